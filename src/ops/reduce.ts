/**
 * Reductions: sum, mean, max, min (values), argmax/argmin (int32 indices), variance. Dims may be a
 * number, a list, or omitted (all dims); negative dims count from the end; `keepdim` keeps reduced
 * dims with size 1 (as PyTorch).
 */
import type { ReduceOp, Shape, Storage } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt, normAxis, numel } from '../tensor/shape.js';
import { keepdimShape, record, reshapeOwned, sameBackend, withFloat, wrap } from './util.js';
import { broadcastTo, reshape } from './shape.js';
import { div, eq, mul, sub } from './elementwise.js';
import { traceOp, tracing } from './trace.js';

/** Which dims to reduce: one, several, or all (undefined/null). */
export type Dims = number | readonly number[] | null | undefined;

/** Options of the reductions. */
export interface ReduceOptions {
  /** Keep reduced dims with size 1 (default false). */
  keepdim?: boolean;
}

/** Options of `variance`. */
export interface VarOptions extends ReduceOptions {
  /** Divisor is n - correction (default 1: unbiased, as `torch.var`). */
  correction?: number;
  /** Shorthand of PyTorch: `unbiased: false` means correction 0. */
  unbiased?: boolean;
}

/** Normalized, sorted, unique axes; all axes when `dims` is omitted or empty. */
export function reduceAxes(op: string, dims: Dims, shape: Shape): number[] {
  const ndim = shape.length;
  if (ndim === 0) {
    // A 0-d tensor accepts dim 0 / -1 (like PyTorch) and has nothing to reduce.
    if (dims !== null && dims !== undefined) for (const d of typeof dims === 'number' ? [dims] : dims) normAxis(d, 0, op);
    return [];
  }
  if (dims === null || dims === undefined) return shape.map((_, i) => i);
  const list = typeof dims === 'number' ? [dims] : [...dims];
  if (list.length === 0) return shape.map((_, i) => i);
  const axes = list.map((d) => normAxis(d, ndim, op));
  if (new Set(axes).size !== axes.length) throw new Error(`${op}: dim list ${fmt(list)} repeats a dim (shape ${fmt(shape)})`);
  return axes.sort((a, b) => a - b);
}

function outShapeOf(shape: Shape, axes: readonly number[], keepdim: boolean): number[] {
  return keepdim ? keepdimShape(shape, axes) : shape.filter((_, i) => !axes.includes(i));
}

/** Runs the reduce kernel and returns a tensor of the requested shape (float32). */
function reduceRaw(op: ReduceOp, x: Tensor, axes: readonly number[], outShape: Shape): Tensor {
  const k = x.kernels;
  if (axes.length === 0) {
    // Nothing to reduce: a float32 copy.
    return wrap(k, withFloat(x, (s) => k.scalar('mul', s, x.shape, 1, false)), x.shape);
  }
  const kd = keepdimShape(x.shape, axes);
  const r = withFloat(x, (s) => k.reduce(op, s, x.shape, axes));
  return wrap(k, reshapeOwned(k, r, kd, outShape, 'float32'), outShape);
}

/** The output gradient reshaped to keepdim form and broadcast back onto the input shape. */
function spread(gy: Tensor, shape: Shape, axes: readonly number[]): Tensor {
  return broadcastTo(reshape(gy, keepdimShape(shape, axes)), shape);
}

/** Sum over `dims` (all when omitted). @example sum(x, [0, 2, 3], { keepdim: true }) */
export function sum(x: Tensor, dims?: Dims, opts: ReduceOptions = {}): Tensor {
  sameBackend('sum', x);
  const axes = reduceAxes('sum', dims, x.shape);
  const out = reduceRaw('sum', x, axes, outShapeOf(x.shape, axes, opts.keepdim ?? false));
  if (tracing.tracer !== null) traceOp('sum', [x], out, { axes, keepdim: opts.keepdim ?? false });
  return record('sum', [x], out, (gy) => [spread(gy, x.shape, axes)]);
}

/** Mean over `dims` (all when omitted). @example mean(x, 0) */
export function mean(x: Tensor, dims?: Dims, opts: ReduceOptions = {}): Tensor {
  sameBackend('mean', x);
  const axes = reduceAxes('mean', dims, x.shape);
  const n = numel(axes.map((a) => x.shape[a]!));
  const out = reduceRaw('mean', x, axes, outShapeOf(x.shape, axes, opts.keepdim ?? false));
  if (tracing.tracer !== null) traceOp('mean', [x], out, { axes, keepdim: opts.keepdim ?? false });
  return record('mean', [x], out, (gy) => [mul(spread(gy, x.shape, axes), 1 / n)]);
}

function extremum(op: 'max' | 'min', x: Tensor, dims: Dims, opts: ReduceOptions): Tensor {
  sameBackend(op, x);
  const axes = reduceAxes(op, dims, x.shape);
  if (axes.some((a) => x.shape[a] === 0)) throw new Error(`${op}: cannot reduce an empty dim (shape ${fmt(x.shape)})`);
  const out = reduceRaw(op, x, axes, outShapeOf(x.shape, axes, opts.keepdim ?? false));
  return record(op, [x], out, (gy) => {
    // The gradient goes to the positions equal to the result, split evenly among ties.
    const kd = keepdimShape(x.shape, axes);
    const mask = eq(x, reshape(out, kd));
    const count = sumKeep(mask, axes);
    return [mul(spread(gy, x.shape, axes), div(mask, count))];
  });
}

function sumKeep(x: Tensor, axes: readonly number[]): Tensor {
  return reduceRaw('sum', x, axes, keepdimShape(x.shape, axes));
}

/** Maximum values over `dims` (all when omitted); the gradient goes to the maxima (ties split). */
export function max(x: Tensor, dims?: Dims, opts: ReduceOptions = {}): Tensor {
  return extremum('max', x, dims, opts);
}

/** Minimum values over `dims` (all when omitted); the gradient goes to the minima (ties split). */
export function min(x: Tensor, dims?: Dims, opts: ReduceOptions = {}): Tensor {
  return extremum('min', x, dims, opts);
}

/**
 * int32 index of the maximum along `dim` (first one on ties); without `dim`, the index into the
 * flattened tensor. Not differentiable.
 * @example argmax(logits, 1) // [N]
 */
export function argmax(x: Tensor, dim?: number | null, opts: ReduceOptions = {}): Tensor {
  return argOp('argmax', x, dim, opts, false);
}

/** int32 index of the minimum along `dim` (first one on ties); see `argmax`. */
export function argmin(x: Tensor, dim?: number | null, opts: ReduceOptions = {}): Tensor {
  return argOp('argmin', x, dim, opts, true);
}

function argOp(op: string, x: Tensor, dim: number | null | undefined, opts: ReduceOptions, negate: boolean): Tensor {
  const k = sameBackend(op, x);
  if (x.size === 0) throw new Error(`${op}: cannot take the ${op} of an empty tensor (shape ${fmt(x.shape)})`);
  const keepdim = opts.keepdim ?? false;
  const owned: Storage[] = [];
  // The kernel sees a float32 storage of rank >= 1 (argmin = argmax of -x).
  let src = x.storage;
  if (x.dtype === 'int32') owned.push((src = k.cast(src, x.shape, 'int32', 'float32')));
  if (negate) owned.push((src = k.unary('neg', src, x.shape)));
  let shape: Shape = x.shape;
  let axis: number;
  let outShape: number[];
  if (dim === undefined || dim === null || x.ndim === 0) {
    if (x.ndim > 0 && dim !== undefined && dim !== null) normAxis(dim, x.ndim, op);
    const flat = [x.size];
    owned.push((src = k.reshape(src, shape, flat, 'float32')));
    shape = flat;
    axis = 0;
    outShape = keepdim ? x.shape.map(() => 1) : [];
  } else {
    axis = normAxis(dim, x.ndim, op);
    outShape = outShapeOf(x.shape, [axis], keepdim);
  }
  try {
    const kd = keepdimShape(shape, [axis]);
    return wrap(k, reshapeOwned(k, k.argmax(src, shape, axis), kd, outShape, 'int32'), outShape, 'int32');
  } finally {
    for (const s of owned) k.dispose(s);
  }
}

/**
 * Variance over `dims` (all when omitted) with divisor n - correction (default 1, unbiased, as
 * `torch.var`).
 * @example variance(x, [0, 2, 3], { keepdim: true, correction: 0 })
 */
export function variance(x: Tensor, dims?: Dims, opts: VarOptions = {}): Tensor {
  const k = sameBackend('var', x);
  const axes = reduceAxes('var', dims, x.shape);
  if (opts.correction !== undefined && opts.unbiased !== undefined) {
    throw new Error('var: give either correction or unbiased, not both');
  }
  const correction = opts.correction ?? (opts.unbiased === false ? 0 : 1);
  const n = numel(axes.map((a) => x.shape[a]!));
  const divisor = Math.max(0, n - correction);
  const kd = keepdimShape(x.shape, axes);
  const m = reduceRaw('mean', x, axes, kd);
  const d = wrap(k, withFloat(x, (s) => k.binary('sub', s, x.shape, m.storage, kd, x.shape)), x.shape);
  const sq = wrap(k, k.unary('square', d.storage, d.shape), d.shape);
  d.dispose();
  const s = reduceRaw('sum', sq, axes, outShapeOf(x.shape, axes, opts.keepdim ?? false));
  sq.dispose();
  const out = wrap(k, k.scalar('div', s.storage, s.shape, divisor, false), s.shape);
  s.dispose();
  // d var / dx = 2 (x - mean) / (n - correction)
  return record('var', [x], out, (gy) => [mul(spread(gy, x.shape, axes), mul(sub(x, m), 2 / divisor))], [m]);
}
