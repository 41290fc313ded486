/**
 * Bilinear resize of [N, C, H, W], PyTorch's `F.interpolate(mode='bilinear', align_corners=False)`.
 * Per axis, output index o samples src = (o + 0.5) · in/out − 0.5 clamped below at 0, between
 * i0 = floor(src) and i1 = min(i0 + 1, in − 1) with weight λ = src − i0 on i1 and 1 − λ on i0.
 * The two axes are separable; the backward pass scatters dy with the same four weights.
 */
import type { Shape, Storage } from '../kernels.js';
import { allocFloat, fl, wrap, wrapAcc } from './storage.js';

/** Source taps and weights of every output index along one axis. */
function taps(inSize: number, outSize: number): { i0: Int32Array; i1: Int32Array; lambda: Float64Array } {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const lambda = new Float64Array(outSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const src = Math.max((o + 0.5) * scale - 0.5, 0);
    const lo = Math.min(Math.floor(src), inSize - 1);
    i0[o] = lo;
    i1[o] = Math.min(lo + 1, inSize - 1);
    lambda[o] = src - lo;
  }
  return { i0, i1, lambda };
}

/** Bilinear resize to [N, C, OH, OW]. */
export function resizeBilinear(x: Storage, shape: Shape, out: [number, number]): Storage {
  const xd = fl(x);
  const [N, C, H, W] = [shape[0]!, shape[1]!, shape[2]!, shape[3]!];
  const [OH, OW] = out;
  const th = taps(H, OH);
  const tw = taps(W, OW);
  const y = allocFloat(x, N * C * OH * OW);
  for (let nc = 0; nc < N * C; nc++) {
    const plane = nc * H * W;
    for (let oh = 0; oh < OH; oh++) {
      const r0 = plane + th.i0[oh]! * W;
      const r1 = plane + th.i1[oh]! * W;
      const lh = th.lambda[oh]!;
      for (let ow = 0; ow < OW; ow++) {
        const c0 = tw.i0[ow]!;
        const c1 = tw.i1[ow]!;
        const lw = tw.lambda[ow]!;
        const top = (1 - lw) * xd[r0 + c0]! + lw * xd[r0 + c1]!;
        const bottom = (1 - lw) * xd[r1 + c0]! + lw * xd[r1 + c1]!;
        y[(nc * OH + oh) * OW + ow] = (1 - lh) * top + lh * bottom;
      }
    }
  }
  return wrap(y);
}

/** dx for resizeBilinear: each dy is distributed to its four source pixels with the forward weights. */
export function resizeBilinearBackward(dy: Storage, shape: Shape, out: [number, number]): Storage {
  const g = fl(dy);
  const [N, C, H, W] = [shape[0]!, shape[1]!, shape[2]!, shape[3]!];
  const [OH, OW] = out;
  const th = taps(H, OH);
  const tw = taps(W, OW);
  const acc = new Float64Array(N * C * H * W);
  for (let nc = 0; nc < N * C; nc++) {
    const plane = nc * H * W;
    for (let oh = 0; oh < OH; oh++) {
      const r0 = plane + th.i0[oh]! * W;
      const r1 = plane + th.i1[oh]! * W;
      const lh = th.lambda[oh]!;
      for (let ow = 0; ow < OW; ow++) {
        const c0 = tw.i0[ow]!;
        const c1 = tw.i1[ow]!;
        const lw = tw.lambda[ow]!;
        const v = g[(nc * OH + oh) * OW + ow]!;
        acc[r0 + c0] += (1 - lh) * (1 - lw) * v;
        acc[r0 + c1] += (1 - lh) * lw * v;
        acc[r1 + c0] += lh * (1 - lw) * v;
        acc[r1 + c1] += lh * lw * v;
      }
    }
  }
  return wrapAcc(acc, dy.dtype);
}
