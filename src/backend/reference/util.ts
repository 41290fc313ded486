/** Small shape helpers for the reference kernels: sizes, strides, broadcasting and strided copies. */
import type { HostArray, Shape } from '../kernels.js';

/** Number of elements of a shape (1 for a scalar). */
export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides (in elements) of a shape. */
export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** `[2, 3]` -> `'[2, 3]'`, for error messages. */
export function fmt(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/**
 * Splits `shape` around `axis` as [outer, len, inner] so that element (o, i, j) is at
 * `(o * len + i) * inner + j`. Most "along an axis" kernels iterate this way.
 */
export function splitAxis(shape: Shape, axis: number): { outer: number; len: number; inner: number } {
  let outer = 1;
  for (let d = 0; d < axis; d++) outer *= shape[d]!;
  let inner = 1;
  for (let d = axis + 1; d < shape.length; d++) inner *= shape[d]!;
  return { outer, len: shape[axis] ?? 1, inner };
}

/**
 * Strides for reading an array of `inShape` while iterating over the (larger or equal) `outShape`
 * with NumPy broadcasting: lower-rank shapes are right-aligned, and size-1 (or missing) input axes
 * get stride 0 so the same element is reused along them.
 */
export function broadcastStrides(inShape: Shape, outShape: Shape): number[] {
  const inStrides = stridesOf(inShape);
  const off = outShape.length - inShape.length;
  const s = new Array<number>(outShape.length).fill(0);
  for (let d = 0; d < inShape.length; d++) {
    if (inShape[d] !== 1) s[d + off] = inStrides[d]!;
  }
  return s;
}

/**
 * For every flat index of `outShape`, the flat index of the broadcast input element of `inShape`.
 * Precomputing this keeps `binary` (and `reduce`, run backwards) a plain loop.
 */
export function broadcastMap(inShape: Shape, outShape: Shape): Int32Array {
  const n = numel(outShape);
  const map = new Int32Array(n);
  const rank = outShape.length;
  const s = broadcastStrides(inShape, outShape);
  const idx = new Array<number>(rank).fill(0);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    map[i] = pos;
    // Odometer increment over outShape, keeping the input position in step.
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      pos += s[d]!;
      if (idx[d]! < outShape[d]!) break;
      pos -= s[d]! * outShape[d]!;
      idx[d] = 0;
    }
  }
  return map;
}

/**
 * Copies a strided block: for every index i of `shape`, dst[dstOff + i·dstStrides] =
 * src[srcOff + i·srcStrides]. permute, slice, pad and cat are all this with different strides.
 */
export function copyStrided(
  src: HostArray,
  srcOff: number,
  srcStrides: readonly number[],
  dst: HostArray,
  dstOff: number,
  dstStrides: readonly number[],
  shape: Shape,
): void {
  const n = numel(shape);
  if (n === 0) return;
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let s = srcOff;
  let t = dstOff;
  for (let i = 0; i < n; i++) {
    dst[t] = src[s]!;
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      s += srcStrides[d]!;
      t += dstStrides[d]!;
      if (idx[d]! < shape[d]!) break;
      s -= srcStrides[d]! * shape[d]!;
      t -= dstStrides[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
}

/** Converts accumulated doubles to the float32 result array. */
export function toF32(acc: Float64Array): Float32Array {
  return Float32Array.from(acc);
}
