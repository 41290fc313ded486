/**
 * Deliberately naive, independent formulas (direct transcriptions of the PyTorch definitions, in
 * doubles) used to hand-check the reference backend itself. They favour obviousness over speed and
 * are only run on tiny shapes.
 */
import type { Conv2dParams, Pool2dParams, Shape } from '../../src/backend/kernels.js';

/** y[n,o,oh,ow] = b[o] + sum_{c,kh,kw} x[n, g*Cg + c, oh*s - p + kh*d, ow*s - p + kw*d] * w[o,c,kh,kw]. */
export function naiveConv2d(
  x: ArrayLike<number>,
  xShape: Shape,
  w: ArrayLike<number>,
  wShape: Shape,
  b: ArrayLike<number> | null,
  p: Conv2dParams,
  yShape: Shape,
): Float64Array {
  const [N, C, H, W] = xShape as [number, number, number, number];
  const [O, Cg, KH, KW] = wShape as [number, number, number, number];
  const [, , OH, OW] = yShape as [number, number, number, number];
  const Og = O / p.groups;
  const y = new Float64Array(N * O * OH * OW);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          let s = b === null ? 0 : b[o]!;
          const g = Math.floor(o / Og);
          for (let c = 0; c < Cg; c++)
            for (let kh = 0; kh < KH; kh++)
              for (let kw = 0; kw < KW; kw++) {
                const ih = oh * p.stride[0] - p.padding[0] + kh * p.dilation[0];
                const iw = ow * p.stride[1] - p.padding[1] + kw * p.dilation[1];
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += x[((n * C + g * Cg + c) * H + ih) * W + iw]! * w[((o * Cg + c) * KH + kh) * KW + kw]!;
              }
          y[((n * O + o) * OH + oh) * OW + ow] = s;
        }
  return y;
}

/** Max over each window (padding is -inf). */
export function naiveMaxPool(x: ArrayLike<number>, shape: Shape, p: Pool2dParams): Float64Array {
  const [N, C, H, W] = shape as [number, number, number, number];
  const [OH, OW] = p.out;
  const y = new Float64Array(N * C * OH * OW);
  for (let nc = 0; nc < N * C; nc++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        let m = -Infinity;
        for (let kh = 0; kh < p.kernel[0]; kh++)
          for (let kw = 0; kw < p.kernel[1]; kw++) {
            const ih = oh * p.stride[0] - p.padding[0] + kh;
            const iw = ow * p.stride[1] - p.padding[1] + kw;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            m = Math.max(m, x[(nc * H + ih) * W + iw]!);
          }
        y[(nc * OH + oh) * OW + ow] = m;
      }
  return y;
}

/** Average over each window: divisor kernel area (countIncludePad, floor mode) or #real elements. */
export function naiveAvgPool(x: ArrayLike<number>, shape: Shape, p: Pool2dParams): Float64Array {
  const [N, C, H, W] = shape as [number, number, number, number];
  const [OH, OW] = p.out;
  const y = new Float64Array(N * C * OH * OW);
  for (let nc = 0; nc < N * C; nc++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        let s = 0;
        let cnt = 0;
        for (let kh = 0; kh < p.kernel[0]; kh++)
          for (let kw = 0; kw < p.kernel[1]; kw++) {
            const ih = oh * p.stride[0] - p.padding[0] + kh;
            const iw = ow * p.stride[1] - p.padding[1] + kw;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            s += x[(nc * H + ih) * W + iw]!;
            cnt++;
          }
        y[(nc * OH + oh) * OW + ow] = s / (p.countIncludePad ? p.kernel[0] * p.kernel[1] : cnt);
      }
  return y;
}

/** PyTorch adaptive average pooling. */
export function naiveAdaptiveAvg(x: ArrayLike<number>, shape: Shape, out: [number, number]): Float64Array {
  const [N, C, H, W] = shape as [number, number, number, number];
  const [OH, OW] = out;
  const y = new Float64Array(N * C * OH * OW);
  for (let nc = 0; nc < N * C; nc++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        const h0 = Math.floor((oh * H) / OH);
        const h1 = Math.ceil(((oh + 1) * H) / OH);
        const w0 = Math.floor((ow * W) / OW);
        const w1 = Math.ceil(((ow + 1) * W) / OW);
        let s = 0;
        for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) s += x[(nc * H + ih) * W + iw]!;
        y[(nc * OH + oh) * OW + ow] = s / ((h1 - h0) * (w1 - w0));
      }
  return y;
}

/** C[b] = op(A[b]) op(B[b]) with batch broadcast of size-1 batches. */
export function naiveMatmul(
  a: ArrayLike<number>,
  aShape: Shape,
  b: ArrayLike<number>,
  bShape: Shape,
  transA: boolean,
  transB: boolean,
): Float64Array {
  const [Ba, a1, a2] = aShape as [number, number, number];
  const [Bb, b1, b2] = bShape as [number, number, number];
  const M = transA ? a2 : a1;
  const K = transA ? a1 : a2;
  const N = transB ? b1 : b2;
  const B = Math.max(Ba, Bb);
  const out = new Float64Array(B * M * N);
  for (let p = 0; p < B; p++) {
    const pa = Ba === 1 ? 0 : p;
    const pb = Bb === 1 ? 0 : p;
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = transA ? a[(pa * K + k) * M + i]! : a[(pa * M + i) * K + k]!;
          const bv = transB ? b[(pb * N + j) * K + k]! : b[(pb * K + k) * N + j]!;
          s += av * bv;
        }
        out[(p * M + i) * N + j] = s;
      }
  }
  return out;
}

/** One bilinear (align_corners=false) sample position along an axis: [i0, i1, lambda]. */
export function bilinearTap(o: number, inSize: number, outSize: number): [number, number, number] {
  let src = ((o + 0.5) * inSize) / outSize - 0.5;
  if (src < 0) src = 0;
  const i0 = Math.min(Math.floor(src), inSize - 1);
  const i1 = Math.min(i0 + 1, inSize - 1);
  return [i0, i1, src - i0];
}

/** Bilinear resize, PyTorch align_corners=false. */
export function naiveResize(x: ArrayLike<number>, shape: Shape, out: [number, number]): Float64Array {
  const [N, C, H, W] = shape as [number, number, number, number];
  const [OH, OW] = out;
  const y = new Float64Array(N * C * OH * OW);
  for (let nc = 0; nc < N * C; nc++)
    for (let oh = 0; oh < OH; oh++) {
      const [h0, h1, lh] = bilinearTap(oh, H, OH);
      for (let ow = 0; ow < OW; ow++) {
        const [w0, w1, lw] = bilinearTap(ow, W, OW);
        const at = (ih: number, iw: number): number => x[(nc * H + ih) * W + iw]!;
        y[(nc * OH + oh) * OW + ow] =
          (1 - lh) * ((1 - lw) * at(h0, w0) + lw * at(h0, w1)) + lh * ((1 - lw) * at(h1, w0) + lw * at(h1, w1));
      }
    }
  return y;
}
