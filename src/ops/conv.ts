/** 2-D convolution (cross-correlation, as PyTorch) over NCHW inputs with OIHW weights. */
import type { Conv2dParams, Storage } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import { checkFloat, checkInt, pair, record, reshapeOwned, sameBackend, wrap } from './util.js';
import { reshape, sumTo } from './shape.js';
import { traceOp, tracing } from './trace.js';

/** A number for both spatial dims or a [height, width] pair. */
export type Size2 = number | readonly [number, number];

/** Geometry of `conv2d` (PyTorch's defaults: stride 1, padding 0, dilation 1, groups 1). */
export interface Conv2dOptions {
  stride?: Size2;
  padding?: Size2;
  dilation?: Size2;
  groups?: number;
}

/**
 * Output size of a convolution along one dim: floor((in + 2p - d(k-1) - 1) / s) + 1.
 * @example convOutSize(28, 5, 1, 2, 1) // 28
 */
export function convOutSize(inSize: number, kernel: number, stride: number, padding: number, dilation: number): number {
  return Math.floor((inSize + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1;
}

/**
 * 2-D convolution: x [N, C, H, W] (or unbatched [C, H, W]), w [O, C/groups, KH, KW], b [O].
 * Output [N, O, OH, OW] with OH = floor((H + 2p - d(KH-1) - 1)/s) + 1.
 * @example conv2d(x, w, b, { padding: 2 }) // LeNet's first layer on 28x28 inputs
 */
export function conv2d(x: Tensor, w: Tensor, b?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  const k = sameBackend('conv2d', x, w, b);
  checkFloat('conv2d', x);
  checkFloat('conv2d', w, 'weight');
  if (b) checkFloat('conv2d', b, 'bias');
  const unbatched = x.ndim === 3;
  if (x.ndim !== 4 && !unbatched) {
    throw new Error(`conv2d: expected a 4-D input [N, C, H, W] (or 3-D [C, H, W]), got ${fmt(x.shape)}`);
  }
  if (w.ndim !== 4) throw new Error(`conv2d: expected a 4-D weight [O, C/groups, KH, KW], got ${fmt(w.shape)}`);
  const xs = unbatched ? [1, ...x.shape] : [...x.shape];
  const [N, C, H, W] = xs as [number, number, number, number];
  const [O, Cg, KH, KW] = w.shape as [number, number, number, number];
  const stride = pair('conv2d', 'stride', opts.stride ?? 1, 1);
  const padding = pair('conv2d', 'padding', opts.padding ?? 0, 0);
  const dilation = pair('conv2d', 'dilation', opts.dilation ?? 1, 1);
  const groups = checkInt('conv2d', 'groups', opts.groups ?? 1, 1);
  const where = `(input ${fmt(x.shape)}, weight ${fmt(w.shape)}${groups > 1 ? `, groups ${groups}` : ''})`;
  if (Cg * groups !== C) {
    throw new Error(`conv2d: input has ${C} channels but weight expects ${Cg * groups} ${where}`);
  }
  if (O % groups !== 0) throw new Error(`conv2d: ${O} output channels are not divisible by groups ${groups} ${where}`);
  if (b && (b.ndim !== 1 || b.shape[0] !== O)) {
    throw new Error(`conv2d: bias must have shape [${O}], got ${fmt(b.shape)} ${where}`);
  }
  const effH = dilation[0] * (KH - 1) + 1;
  const effW = dilation[1] * (KW - 1) + 1;
  if (effH > H + 2 * padding[0] || effW > W + 2 * padding[1]) {
    throw new Error(
      `conv2d: kernel size ${effH}x${effW}${dilation[0] > 1 || dilation[1] > 1 ? ' (dilated)' : ''} is larger than the padded input ` +
        `${H + 2 * padding[0]}x${W + 2 * padding[1]} ${where}`,
    );
  }
  const OH = convOutSize(H, KH, stride[0], padding[0], dilation[0]);
  const OW = convOutSize(W, KW, stride[1], padding[1], dilation[1]);
  const p: Conv2dParams = { stride, padding, dilation, groups };
  const yShape = [N, O, OH, OW];
  const outShape = unbatched ? [O, OH, OW] : yShape;

  const xStore: Storage = unbatched ? k.reshape(x.storage, x.shape, xs, 'float32') : x.storage;
  let y: Storage;
  try {
    y = k.conv2d(xStore, xs, w.storage, w.shape, b ? b.storage : null, p, yShape);
  } finally {
    if (unbatched) k.dispose(xStore);
  }
  const out = wrap(k, reshapeOwned(k, y, yShape, outShape, 'float32'), outShape);
  const bias = b ?? null;
  if (tracing.tracer !== null) traceOp('conv2d', [x, w, bias], out, { stride, padding, dilation, groups });

  return record('conv2d', [x, w, bias], out, (gy, needs) => {
    const gk = gy.kernels;
    const dy = unbatched ? gk.reshape(gy.storage, gy.shape, yShape, 'float32') : gy.storage;
    const grads: (Tensor | null)[] = [null, null, null];
    try {
      if (needs[0]) {
        // Skipped for the first layer (its input needs no gradient).
        const dx = gk.conv2dBackwardData(dy, yShape, w.storage, w.shape, xs, p);
        grads[0] = wrap(gk, reshapeOwned(gk, dx, xs, x.shape, 'float32'), x.shape);
      }
      if (needs[1]) {
        const xb = unbatched ? gk.reshape(x.storage, x.shape, xs, 'float32') : x.storage;
        try {
          const r = gk.conv2dBackwardWeights(dy, yShape, xb, xs, w.shape, bias !== null && needs[2], p);
          grads[1] = wrap(gk, r.dw, w.shape);
          if (r.db !== null) grads[2] = wrap(gk, r.db, [O]);
        } finally {
          if (unbatched) gk.dispose(xb);
        }
      } else if (needs[2]) {
        const g4 = wrap(gk, gk.reshape(dy, yShape, yShape, 'float32'), yShape);
        grads[2] = reshape(sumTo(g4, [O, 1, 1]), [O]);
      }
    } finally {
      if (unbatched) gk.dispose(dy);
    }
    return grads;
  });
}
