/**
 * Pooling over [N, C, H, W]: max (with argmax workspace), average, and PyTorch's adaptive average.
 * Window of output (oh, ow): rows oh * strideH - padH + [0, KH), columns likewise; positions outside
 * the input are padding (-Infinity for max, zero for average).
 */
import type { PoolResult, Pool2dParams, Shape, Storage } from '../kernels.js';
import { allocFloat, fl, i32, wrap, wrapAcc, type FloatArray } from './storage.js';

/**
 * Max pooling forward. Returns y and, per output element, the flat index ih * W + iw of the chosen
 * input element within its (n, c) plane. Like PyTorch: the scan is row-major over the window
 * clipped to the input, the first maximum wins (strict >), NaN is taken as the maximum, and the
 * index starts at the window's first valid element (so an all -Infinity window still points at
 * real data).
 */
function maxPoolForward(xd: FloatArray, shape: Shape, p: Pool2dParams): { y: FloatArray; idx: Int32Array } {
  const [N, C, H, W] = [shape[0]!, shape[1]!, shape[2]!, shape[3]!];
  const [KH, KW] = p.kernel;
  const [sh, sw] = p.stride;
  const [ph, pw] = p.padding;
  const [OH, OW] = p.out;
  const y = xd instanceof Float64Array ? new Float64Array(N * C * OH * OW) : new Float32Array(N * C * OH * OW);
  const idx = new Int32Array(N * C * OH * OW);
  for (let nc = 0; nc < N * C; nc++) {
    const plane = nc * H * W;
    for (let oh = 0; oh < OH; oh++) {
      const h0 = Math.max(oh * sh - ph, 0);
      const h1 = Math.min(oh * sh - ph + KH, H);
      for (let ow = 0; ow < OW; ow++) {
        const w0 = Math.max(ow * sw - pw, 0);
        const w1 = Math.min(ow * sw - pw + KW, W);
        let best = -Infinity;
        let bestIdx = h0 * W + w0;
        for (let ih = h0; ih < h1; ih++) {
          for (let iw = w0; iw < w1; iw++) {
            const v = xd[plane + ih * W + iw]!;
            if (v > best || v !== v) {
              best = v;
              bestIdx = ih * W + iw;
            }
          }
        }
        const o = (nc * OH + oh) * OW + ow;
        y[o] = best;
        idx[o] = bestIdx;
      }
    }
  }
  return { y, idx };
}

/** Max pooling; the workspace is an int32 storage of argmax indices within each (n, c) plane. */
export function maxPool2d(x: Storage, shape: Shape, p: Pool2dParams): PoolResult {
  const { y, idx } = maxPoolForward(fl(x), shape, p);
  return { y: wrap(y), workspace: wrap(idx) };
}

/** dx for max pooling: each dy goes to the input element its window chose (collisions accumulate). */
export function maxPool2dBackward(
  dy: Storage,
  x: Storage,
  _y: Storage,
  workspace: Storage | null,
  shape: Shape,
  p: Pool2dParams,
): Storage {
  const g = fl(dy);
  // The workspace is ours from maxPool2d; if a caller dropped it, recompute the argmax from x.
  const idx = workspace !== null ? i32(workspace) : maxPoolForward(fl(x), shape, p).idx;
  const [N, C, H, W] = [shape[0]!, shape[1]!, shape[2]!, shape[3]!];
  const [OH, OW] = p.out;
  const acc = new Float64Array(N * C * H * W);
  for (let nc = 0; nc < N * C; nc++) {
    const plane = nc * H * W;
    for (let o = nc * OH * OW; o < (nc + 1) * OH * OW; o++) acc[plane + idx[o]!] += g[o]!;
  }
  return wrapAcc(acc, dy.dtype);
}

/**
 * Window bounds of average pooling for one axis, exactly as PyTorch computes them: the divisor
 * window is clipped to the padded extent [-pad, in + pad), the summed window to the input [0, in).
 */
function avgBounds(o: number, stride: number, pad: number, k: number, inSize: number): [number, number, number] {
  const start = o * stride - pad;
  const endPadded = Math.min(start + k, inSize + pad);
  const padded = endPadded - start;
  return [Math.max(start, 0), Math.min(endPadded, inSize), padded];
}

/**
 * The divisor and the summed window of every output position, shared by forward and backward.
 * countIncludePad divides by the window size (clipped to the padded extent, which only matters in
 * ceil mode); otherwise by the number of real input elements in the window.
 */
function avgWindows(shape: Shape, p: Pool2dParams): { h0: Int32Array; h1: Int32Array; w0: Int32Array; w1: Int32Array; div: Float64Array } {
  const [H, W] = [shape[2]!, shape[3]!];
  const [OH, OW] = p.out;
  const h0 = new Int32Array(OH);
  const h1 = new Int32Array(OH);
  const hp = new Int32Array(OH);
  const w0 = new Int32Array(OW);
  const w1 = new Int32Array(OW);
  const wp = new Int32Array(OW);
  for (let oh = 0; oh < OH; oh++) [h0[oh], h1[oh], hp[oh]] = avgBounds(oh, p.stride[0], p.padding[0], p.kernel[0], H);
  for (let ow = 0; ow < OW; ow++) [w0[ow], w1[ow], wp[ow]] = avgBounds(ow, p.stride[1], p.padding[1], p.kernel[1], W);
  const div = new Float64Array(OH * OW);
  for (let oh = 0; oh < OH; oh++) {
    for (let ow = 0; ow < OW; ow++) {
      div[oh * OW + ow] = p.countIncludePad ? hp[oh]! * wp[ow]! : (h1[oh]! - h0[oh]!) * (w1[ow]! - w0[ow]!);
    }
  }
  return { h0, h1, w0, w1, div };
}

/** Average pooling. */
export function avgPool2d(x: Storage, shape: Shape, p: Pool2dParams): Storage {
  const xd = fl(x);
  const [N, C, H, W] = [shape[0]!, shape[1]!, shape[2]!, shape[3]!];
  const [OH, OW] = p.out;
  const { h0, h1, w0, w1, div } = avgWindows(shape, p);
  const y = xd instanceof Float64Array ? new Float64Array(N * C * OH * OW) : new Float32Array(N * C * OH * OW);
  for (let nc = 0; nc < N * C; nc++) {
    const plane = nc * H * W;
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let s = 0;
        for (let ih = h0[oh]!; ih < h1[oh]!; ih++) {
          for (let iw = w0[ow]!; iw < w1[ow]!; iw++) s += xd[plane + ih * W + iw]!;
        }
        y[(nc * OH + oh) * OW + ow] = s / div[oh * OW + ow]!;
      }
    }
  }
  return wrap(y);
}

/** dx for average pooling: each dy / divisor is spread over the real elements of its window. */
export function avgPool2dBackward(dy: Storage, shape: Shape, p: Pool2dParams): Storage {
  const g = fl(dy);
  const [N, C, H, W] = [shape[0]!, shape[1]!, shape[2]!, shape[3]!];
  const [OH, OW] = p.out;
  const { h0, h1, w0, w1, div } = avgWindows(shape, p);
  const acc = new Float64Array(N * C * H * W);
  for (let nc = 0; nc < N * C; nc++) {
    const plane = nc * H * W;
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const v = g[(nc * OH + oh) * OW + ow]! / div[oh * OW + ow]!;
        for (let ih = h0[oh]!; ih < h1[oh]!; ih++) {
          for (let iw = w0[ow]!; iw < w1[ow]!; iw++) acc[plane + ih * W + iw] += v;
        }
      }
    }
  }
  return wrapAcc(acc, dy.dtype);
}

/** PyTorch's adaptive bins along one axis: bin i covers [floor(i*in/out), ceil((i+1)*in/out)). */
function adaptiveBins(inSize: number, outSize: number): { start: Int32Array; end: Int32Array } {
  const start = new Int32Array(outSize);
  const end = new Int32Array(outSize);
  for (let i = 0; i < outSize; i++) {
    start[i] = Math.floor((i * inSize) / outSize);
    end[i] = Math.ceil(((i + 1) * inSize) / outSize);
  }
  return { start, end };
}

/** Adaptive average pooling of [N, C, H, W] to [N, C, OH, OW]: the mean over each bin. */
export function adaptiveAvgPool2d(x: Storage, shape: Shape, out: [number, number]): Storage {
  const xd = fl(x);
  const [N, C, H, W] = [shape[0]!, shape[1]!, shape[2]!, shape[3]!];
  const [OH, OW] = out;
  const hb = adaptiveBins(H, OH);
  const wb = adaptiveBins(W, OW);
  const y = xd instanceof Float64Array ? new Float64Array(N * C * OH * OW) : new Float32Array(N * C * OH * OW);
  for (let nc = 0; nc < N * C; nc++) {
    const plane = nc * H * W;
    for (let oh = 0; oh < OH; oh++) {
      const [h0, h1] = [hb.start[oh]!, hb.end[oh]!];
      for (let ow = 0; ow < OW; ow++) {
        const [w0, w1] = [wb.start[ow]!, wb.end[ow]!];
        let s = 0;
        for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) s += xd[plane + ih * W + iw]!;
        y[(nc * OH + oh) * OW + ow] = s / ((h1 - h0) * (w1 - w0));
      }
    }
  }
  return wrap(y);
}

/** dx for adaptive average pooling: dy / binSize over each bin (overlapping bins accumulate). */
export function adaptiveAvgPool2dBackward(dy: Storage, shape: Shape, out: [number, number]): Storage {
  const g = fl(dy);
  const [N, C, H, W] = [shape[0]!, shape[1]!, shape[2]!, shape[3]!];
  const [OH, OW] = out;
  const hb = adaptiveBins(H, OH);
  const wb = adaptiveBins(W, OW);
  const acc = new Float64Array(N * C * H * W);
  for (let nc = 0; nc < N * C; nc++) {
    const plane = nc * H * W;
    for (let oh = 0; oh < OH; oh++) {
      const [h0, h1] = [hb.start[oh]!, hb.end[oh]!];
      for (let ow = 0; ow < OW; ow++) {
        const [w0, w1] = [wb.start[ow]!, wb.end[ow]!];
        const v = g[(nc * OH + oh) * OW + ow]! / ((h1 - h0) * (w1 - w0));
        for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) acc[plane + ih * W + iw] += v;
      }
    }
  }
  return wrapAcc(acc, dy.dtype);
}
