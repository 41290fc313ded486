/**
 * TEMPORARY bridge until Engine II lands: the webgpu kernels (Engine II contract) presented through
 * the current contract (src/backend/kernels.ts), so today's ops, nn, optimizers and models run on
 * the GPU. Differences bridged: `cast` and the layout kernels take dtype arguments there, and
 * `toHost` is synchronous there — a GPU cannot read back synchronously, so it throws a one-line
 * error pointing at the asynchronous read (`readStorage` in src/backend/index.ts). Delete this file
 * when src/backend/kernels.ts is the Engine II contract.
 */
import type * as Old from '../kernels.js';
import type { WebgpuKernels } from './index.js';

/** The error of a synchronous read-back on the GPU (item(), toArray(), tolist()). */
export const SYNC_READ_ERROR =
  "webgpu backend: synchronous read-back (toArray(), item(), tolist()) is not possible on a GPU; read asynchronously instead (await readStorage(t.kernels, t.storage, t.shape, t.dtype) today, await t.data() with Engine II)";

/** `k` through the current (pre-Engine II) kernel contract. */
export function legacyKernels(k: WebgpuKernels): Old.Kernels & { readonly webgpu: WebgpuKernels } {
  return {
    ...k,
    name: 'webgpu',
    webgpu: k,
    fromHost: (data, shape, dtype) => k.fromHost(data, shape, dtype),
    toHost: () => {
      throw new Error(SYNC_READ_ERROR);
    },
    cast: (x, shape, _from, to) => k.cast(x as never, shape, to),
    reshape: (x, shape, newShape) => k.reshape(x as never, shape, newShape),
    permute: (x, shape, perm) => k.permute(x as never, shape, perm),
    slice: (x, shape, starts, outShape) => k.slice(x as never, shape, starts, outShape),
    pad: (dy, shape, starts, fullShape) => k.pad(dy as never, shape, starts, fullShape),
    cat: (xs, shapes, axis) => k.cat(xs as never, shapes, axis),
    indexSelect: (x, shape, axis, idx, n) => k.indexSelect(x as never, shape, axis, idx as never, n),
  } as Old.Kernels & { readonly webgpu: WebgpuKernels };
}
