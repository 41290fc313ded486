/**
 * 2-D convolution (PyTorch's cross-correlation) with stride, symmetric zero padding, dilation and
 * groups, plus its exact data and weight gradients.
 *
 * Index relation used by all three kernels, for output (oh, ow) and kernel tap (kh, kw):
 *   ih = oh * strideH - padH + kh * dilationH,   iw = ow * strideW - padW + kw * dilationW,
 * and taps with (ih, iw) outside the input read the zero padding (contribute nothing). Input
 * channel c of group g is g * C/groups + c; output channel o belongs to group floor(o / (O/groups)).
 * Loops run tap-by-tap with the valid output range precomputed (`validRange`), so the innermost
 * loop is a plain multiply-add over a row with no bounds tests. Sums accumulate in doubles.
 */
import type { Conv2dParams, Shape, Storage } from '../kernels.js';
import { allocFloat, fl, wrap, wrapAcc } from './storage.js';

/**
 * The output positions [lo, hi) whose input position o * stride + offset lies in [0, inSize).
 * Used to skip the padding without a test in the inner loop.
 */
export function validRange(outSize: number, stride: number, offset: number, inSize: number): [number, number] {
  const lo = offset >= 0 ? 0 : Math.ceil(-offset / stride);
  const last = inSize - 1 - offset;
  const hi = last < 0 ? 0 : Math.min(outSize, Math.floor(last / stride) + 1);
  return [Math.min(lo, outSize), Math.max(hi, Math.min(lo, outSize))];
}

/** Named sizes of a convolution, from the shapes (x [N,C,H,W], w [O,C/g,KH,KW], y [N,O,OH,OW]). */
interface ConvDims {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  Cg: number;
  Og: number;
  KH: number;
  KW: number;
  OH: number;
  OW: number;
}

function dims(xShape: Shape, wShape: Shape, yShape: Shape, groups: number): ConvDims {
  return {
    N: xShape[0]!,
    C: xShape[1]!,
    H: xShape[2]!,
    W: xShape[3]!,
    O: wShape[0]!,
    Cg: wShape[1]!,
    Og: wShape[0]! / groups,
    KH: wShape[2]!,
    KW: wShape[3]!,
    OH: yShape[2]!,
    OW: yShape[3]!,
  };
}

/** y = conv2d(x, w) + b; x [N, C, H, W], w [O, C/groups, KH, KW], b [O] or null; y has `yShape`. */
export function conv2d(x: Storage, xShape: Shape, w: Storage, wShape: Shape, b: Storage | null, p: Conv2dParams, yShape: Shape): Storage {
  const xd = fl(x);
  const wd = fl(w);
  const bd = b === null ? null : fl(b);
  const { N, C, H, W, O, Cg, Og, KH, KW, OH, OW } = dims(xShape, wShape, yShape, p.groups);
  const [sh, sw] = p.stride;
  const [ph, pw] = p.padding;
  const [dh, dw] = p.dilation;
  const y = allocFloat(x, N * O * OH * OW);
  const acc = new Float64Array(OH * OW);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const g = Math.floor(o / Og);
      acc.fill(bd === null ? 0 : bd[o]!);
      for (let c = 0; c < Cg; c++) {
        const xPlane = (n * C + g * Cg + c) * H * W;
        for (let kh = 0; kh < KH; kh++) {
          const hOff = kh * dh - ph;
          const [oh0, oh1] = validRange(OH, sh, hOff, H);
          for (let kw = 0; kw < KW; kw++) {
            const wOff = kw * dw - pw;
            const [ow0, ow1] = validRange(OW, sw, wOff, W);
            const wv = wd[((o * Cg + c) * KH + kh) * KW + kw]!;
            for (let oh = oh0; oh < oh1; oh++) {
              const xRow = xPlane + (oh * sh + hOff) * W + wOff;
              const aRow = oh * OW;
              for (let ow = ow0; ow < ow1; ow++) acc[aRow + ow] += wv * xd[xRow + ow * sw]!;
            }
          }
        }
      }
      y.set(acc, (n * O + o) * OH * OW);
    }
  }
  return wrap(y);
}

/** dx of conv2d: every tap scatters dy * w back to the input position it read. */
export function conv2dBackwardData(dy: Storage, dyShape: Shape, w: Storage, wShape: Shape, xShape: Shape, p: Conv2dParams): Storage {
  const g0 = fl(dy);
  const wd = fl(w);
  const { N, C, H, W, O, Cg, Og, KH, KW, OH, OW } = dims(xShape, wShape, dyShape, p.groups);
  const [sh, sw] = p.stride;
  const [ph, pw] = p.padding;
  const [dh, dw] = p.dilation;
  const acc = new Float64Array(N * C * H * W);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const g = Math.floor(o / Og);
      const dyPlane = (n * O + o) * OH * OW;
      for (let c = 0; c < Cg; c++) {
        const xPlane = (n * C + g * Cg + c) * H * W;
        for (let kh = 0; kh < KH; kh++) {
          const hOff = kh * dh - ph;
          const [oh0, oh1] = validRange(OH, sh, hOff, H);
          for (let kw = 0; kw < KW; kw++) {
            const wOff = kw * dw - pw;
            const [ow0, ow1] = validRange(OW, sw, wOff, W);
            const wv = wd[((o * Cg + c) * KH + kh) * KW + kw]!;
            for (let oh = oh0; oh < oh1; oh++) {
              const xRow = xPlane + (oh * sh + hOff) * W + wOff;
              const gRow = dyPlane + oh * OW;
              for (let ow = ow0; ow < ow1; ow++) acc[xRow + ow * sw] += wv * g0[gRow + ow]!;
            }
          }
        }
      }
    }
  }
  return wrapAcc(acc, dy.dtype);
}

/** dw of conv2d (sum over batch and output positions of dy * x at each tap), and db = sum of dy per channel. */
export function conv2dBackwardWeights(
  dy: Storage,
  dyShape: Shape,
  x: Storage,
  xShape: Shape,
  wShape: Shape,
  hasBias: boolean,
  p: Conv2dParams,
): { dw: Storage; db: Storage | null } {
  const g0 = fl(dy);
  const xd = fl(x);
  const { N, C, H, W, O, Cg, Og, KH, KW, OH, OW } = dims(xShape, wShape, dyShape, p.groups);
  const [sh, sw] = p.stride;
  const [ph, pw] = p.padding;
  const [dh, dw] = p.dilation;
  const dwAcc = new Float64Array(O * Cg * KH * KW);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const g = Math.floor(o / Og);
      const dyPlane = (n * O + o) * OH * OW;
      for (let c = 0; c < Cg; c++) {
        const xPlane = (n * C + g * Cg + c) * H * W;
        for (let kh = 0; kh < KH; kh++) {
          const hOff = kh * dh - ph;
          const [oh0, oh1] = validRange(OH, sh, hOff, H);
          for (let kw = 0; kw < KW; kw++) {
            const wOff = kw * dw - pw;
            const [ow0, ow1] = validRange(OW, sw, wOff, W);
            let s = 0;
            for (let oh = oh0; oh < oh1; oh++) {
              const xRow = xPlane + (oh * sh + hOff) * W + wOff;
              const gRow = dyPlane + oh * OW;
              for (let ow = ow0; ow < ow1; ow++) s += g0[gRow + ow]! * xd[xRow + ow * sw]!;
            }
            dwAcc[((o * Cg + c) * KH + kh) * KW + kw] += s;
          }
        }
      }
    }
  }
  let db: Storage | null = null;
  if (hasBias) {
    const acc = new Float64Array(O);
    for (let n = 0; n < N; n++) {
      for (let o = 0; o < O; o++) {
        const dyPlane = (n * O + o) * OH * OW;
        for (let i = 0; i < OH * OW; i++) acc[o] += g0[dyPlane + i]!;
      }
    }
    db = wrapAcc(acc, dy.dtype);
  }
  return { dw: wrapAcc(dwAcc, dy.dtype), db };
}
