/**
 * The fused optimizer updates of the native backend (native/src/optim.cc): one addon call per
 * parameter group, in place on the parameters and the optimizer state.
 *
 * Addon functions (`h` handles; shapes are number arrays):
 * - `sgdStep(params[], grads[], bufs[] (null = first step), shapes[], hyper) -> (handle | null)[]`: a
 *   new buffer's handle where the input was null, null where the given buffer was updated; `[]`
 *   when momentum is 0.
 * - `adamStep(params[], grads[], expAvg[], expAvgSq[], shapes[], hyper) -> undefined`.
 * Grads may be in a blocked layout (a convolution's dw): the addon reorders them to the
 * parameter's layout.
 */
import type { Kernels, Storage } from '../kernels.js';
import { hd, ns, type NativeAddon } from './addon.js';

/** The kernels implemented by this file. */
export type OptimKernels = Pick<Kernels, 'sgdStep' | 'adamStep'>;

/**
 * The fused optimizer kernels over the loaded addon `a`.
 * @example const bufs = optimKernels(addon).sgdStep([p], [g], [null], [[3]], { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false, maximize: false });
 */
export function optimKernels(a: NativeAddon): OptimKernels {
  return {
    sgdStep(params, grads, bufs, shapes, h) {
      const useMomentum = h.momentum !== 0;
      const out = a.sgdStep(
        params.map((p) => hd(p)),
        grads.map((g) => hd(g)),
        useMomentum ? bufs.map((b) => (b === null ? null : hd(b))) : [],
        shapes,
        h,
      ) as unknown[];
      // The caller's storage objects for existing buffers; the new ones wrapped.
      return out.map((handle, i): Storage => bufs[i] ?? ns(handle));
    },

    adamStep(params, grads, expAvg, expAvgSq, shapes, h) {
      a.adamStep(
        params.map((p) => hd(p)),
        grads.map((g) => hd(g)),
        expAvg.map((m) => hd(m)),
        expAvgSq.map((v) => hd(v)),
        shapes,
        h,
      );
    },
  };
}
