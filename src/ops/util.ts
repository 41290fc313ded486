/**
 * Internal helpers shared by the op families (not exported from the package): wrapping kernel
 * results into tensors, recording with a scoped backward, argument checks with op-named errors.
 */
import type { DType, Kernels, Shape, Storage } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt, sameShape } from '../tensor/shape.js';
import { tidy } from '../tensor/scope.js';
import { record as recordNode, type BackwardFn } from '../autograd/record.js';

/** A new tensor owning storage `s` (which must have logical shape `shape` on backend `k`). */
export function wrap(k: Kernels, s: Storage, shape: Shape, dtype: DType = 'float32'): Tensor {
  return new Tensor(s, shape, dtype, k);
}

/**
 * `autograd.record` with two guarantees for every op's backward: temporaries it creates are freed
 * (the body runs in a `tidy` scope; only the returned gradients survive), and no tensor object is
 * returned for two inputs (the autograd engine may take ownership of each returned gradient).
 */
export function record(
  name: string,
  inputs: readonly (Tensor | null | undefined)[],
  out: Tensor,
  backward: BackwardFn,
  owned: Tensor[] = [],
): Tensor {
  return recordNode(
    name,
    inputs,
    out,
    (gy, needs) =>
      tidy(() => {
        const gs = backward(gy, needs);
        const seen = new Set<Tensor>();
        return gs.map((g, i) => {
          // Unneeded gradients made here are freed by the scope.
          if (g === null || !needs[i]) return null;
          if (seen.has(g)) return copy(g);
          seen.add(g);
          return g;
        });
      }),
    owned,
  );
}

/** A copy of `x` (a fresh storage, same shape and dtype), unrecorded. */
export function copy(x: Tensor): Tensor {
  const k = x.kernels;
  if (x.dtype === 'int32') return wrap(k, k.slice(x.storage, x.shape, x.shape.map(() => 0), x.shape, 'int32'), x.shape, 'int32');
  return wrap(k, k.scalar('mul', x.storage, x.shape, 1, false), x.shape);
}

/**
 * Replaces a kernel result of `shape` by a storage of `newShape` (a reshape, freeing the original);
 * returns `s` itself when the shapes are equal.
 */
export function reshapeOwned(k: Kernels, s: Storage, shape: Shape, newShape: Shape, dtype: DType): Storage {
  if (sameShape(shape, newShape)) return s;
  const r = k.reshape(s, shape, newShape, dtype);
  k.dispose(s);
  return r;
}

/**
 * Runs `fn` on `x`'s storage as float32: int32 tensors are cast to a temporary float32 copy first
 * (freed afterwards), so elementwise and reduction kernels always produce float32 on every backend.
 */
export function withFloat<T>(x: Tensor, fn: (s: Storage) => T): T {
  if (x.dtype === 'float32') return fn(x.storage);
  const k = x.kernels;
  const s = k.cast(x.storage, x.shape, x.dtype, 'float32');
  try {
    return fn(s);
  } finally {
    k.dispose(s);
  }
}

/** Throws naming `op` unless every tensor is a Tensor on one backend; returns that backend. */
export function sameBackend(op: string, ...ts: readonly (Tensor | null | undefined)[]): Kernels {
  let k: Kernels | null = null;
  for (const t of ts) {
    if (t === null || t === undefined) continue;
    if (!(t instanceof Tensor)) throw new Error(`${op}: expected a Tensor, got ${describe(t)}`);
    if (k === null) k = t.kernels;
    else if (t.kernels !== k) {
      throw new Error(`${op}: tensors live on different backends ('${k.name}' and '${t.kernels.name}')`);
    }
  }
  if (k === null) throw new Error(`${op}: expected at least one tensor argument`);
  return k;
}

/** Short description of an unexpected argument, for errors. */
export function describe(v: unknown): string {
  if (v instanceof Tensor) return `a ${v.dtype} tensor of shape ${fmt(v.shape)}`;
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  return v === null ? 'null' : typeof v;
}

/** Throws naming `op` unless `x` is a float32 tensor (ops with gradients). */
export function checkFloat(op: string, x: Tensor, what = 'input'): void {
  if (x.dtype !== 'float32') {
    throw new Error(`${op}: ${what} must be float32, got ${x.dtype} tensor of shape ${fmt(x.shape)}`);
  }
}

/** An integer >= `min`, or throws naming `op` and `what`. */
export function checkInt(op: string, what: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) throw new Error(`${op}: ${what} must be an integer >= ${min}, got ${v}`);
  return v;
}

/** A number or a [height, width] pair -> a checked pair of integers >= min. */
export function pair(op: string, what: string, v: number | readonly [number, number] | readonly number[], min: number): [number, number] {
  let p: [number, number];
  if (typeof v === 'number') p = [v, v];
  else if (Array.isArray(v) && v.length === 2) p = [v[0]!, v[1]!];
  else throw new Error(`${op}: ${what} must be a number or a [height, width] pair, got ${JSON.stringify(v)}`);
  checkInt(op, what, p[0], min);
  checkInt(op, what, p[1], min);
  return p;
}

/** Dims given as a number, an array, or spread arguments -> a plain array. */
export function dimsArg(args: readonly (number | readonly number[])[]): number[] {
  if (args.length === 1 && Array.isArray(args[0])) return [...(args[0] as readonly number[])];
  return args.map((a) => {
    if (typeof a !== 'number') throw new Error(`expected numbers or one array of numbers, got ${JSON.stringify(args)}`);
    return a;
  });
}

/** `shape` with the axes in `axes` set to 1 (a reduction's keepdim shape). */
export function keepdimShape(shape: Shape, axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

