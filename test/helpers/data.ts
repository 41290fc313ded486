/**
 * Seeded test data for the kernel conformance suite. Every generator takes an explicit
 * `Generator` (src/tensor/random.ts) so each test case is reproducible on its own.
 */
import { Generator } from '../../src/tensor/random.js';
import type { Shape } from '../../src/backend/kernels.js';

export { Generator };

/** Number of elements of a shape (1 for a scalar shape []). */
export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** `[2, 3]` -> `'2x3'` for test names. */
export function sh(shape: Shape): string {
  return shape.length === 0 ? 'scalar' : shape.join('x');
}

/** Normal(offset, scale^2) values. */
export function randn(gen: Generator, n: number, scale = 1, offset = 0): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = offset + scale * gen.normal();
  return out;
}

/** Uniform values in [lo, hi). */
export function uniform(gen: Generator, n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * gen.random();
  return out;
}

/**
 * Pairwise distinct values (a random permutation of an evenly spaced grid), so that max pooling and
 * argmax have no ties. Values lie in about [-scale/2, scale/2).
 */
export function distinct(gen: Generator, n: number, scale = 4): Float32Array {
  const p = gen.permutation(n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = ((p[i]! - n / 2) / Math.max(n, 1)) * scale;
  return out;
}

/** Integers in [lo, hi) stored as float32 (many ties: for comparisons and argmax). */
export function smallInts(gen: Generator, n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + gen.randint(hi - lo);
  return out;
}

/** int32 values in [lo, hi). */
export function randInt32(gen: Generator, n: number, lo: number, hi: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + gen.randint(hi - lo);
  return out;
}

/** Root mean square of an array (magnitude estimate for tolerances). */
export function rms(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return a.length === 0 ? 0 : Math.sqrt(s / a.length);
}

/** Largest absolute value of an array. */
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** Dot product in doubles. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** PyTorch's output size of a convolution / pooling window along one axis (floor rule). */
export function outSize(inSize: number, k: number, stride: number, pad: number, dil = 1): number {
  return Math.floor((inSize + 2 * pad - dil * (k - 1) - 1) / stride) + 1;
}
