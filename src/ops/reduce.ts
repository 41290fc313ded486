/**
 * Reductions: sum, mean, max, min (values), argmax/argmin (int32 indices), variance. Dims may be a
 * number, a list, or omitted (all dims); negative dims count from the end; `keepdim` keeps reduced
 * dims with size 1 (as PyTorch). int32 inputs reduce in float32; under autocast, in float32.
 */
import type { ReduceOp, Shape, Storage } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt, normAxis, numel } from '../tensor/shape.js';
import { defineOp } from './op.js';
import { attr, OnnxType, type OnnxLowering } from './onnx-api.js';
import { broadcastTo, keepdimShape, reshape } from './shape.js';
import { div, eq, mul, neg, sub } from './elementwise.js';
import { installMethods } from './method.js';

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

interface ReduceParams {
  shape: Shape;
  axes: number[];
  keepdim: boolean;
  out: Shape;
}

/** The output gradient reshaped to keepdim form and broadcast back onto the input shape. */
function spread(gy: Tensor, shape: Shape, axes: readonly number[]): Tensor {
  return broadcastTo(reshape(gy, keepdimShape(shape, axes)), shape);
}

/** Batch axis after reducing `axes` (-1 when the batch axis itself is reduced). */
function reducedAxis(g: OnnxLowering, p: ReduceParams): number {
  const a = g.batchAxis(g.inputs[0] as Tensor);
  if (a < 0 || p.axes.includes(a)) return -1;
  return p.keepdim ? a : a - p.axes.filter((x) => x < a).length;
}

function defineReduce(op: ReduceOp, onnxOp: string, grad: (gy: Tensor, x: Tensor, out: Tensor, p: ReduceParams) => Tensor) {
  return defineOp({
    name: op,
    kernel: 'reduce',
    ints: 'float',
    autocast: 'float32',
    setup: (x: Tensor, dims?: Dims, opts: ReduceOptions = {}) => {
      const shape = x instanceof Tensor ? x.shape : [];
      const axes = reduceAxes(op, dims, shape);
      if ((op === 'max' || op === 'min') && axes.some((a) => shape[a] === 0)) {
        throw new Error(`${op}: cannot reduce an empty dim (shape ${fmt(shape)})`);
      }
      const keepdim = opts.keepdim ?? false;
      const out = outShapeOf(shape, axes, keepdim);
      const params: ReduceParams = { shape, axes, keepdim, out };
      return { inputs: [x], params, shape: out };
    },
    forward: (k, [x], p, c) => {
      const s = x as Storage;
      if (p.axes.length === 0) return k.slice(s, p.shape, p.shape.map(() => 0), p.shape); // nothing to reduce: a copy
      return k.reshape(c.tmp(k.reduce(op, s, p.shape, p.axes)), keepdimShape(p.shape, p.axes), p.out);
    },
    backward: (gy, c) => [grad(gy, c.inputs[0] as Tensor, c.out, c.params)],
    onnx: (g, p): [string, number] => {
      const x = g.name(g.inputs[0]!);
      const keepdims = attr.int(p.keepdim ? 1 : 0);
      if (p.axes.length === 0) return [g.node('Identity', [x]), g.batchAxis(g.inputs[0] as Tensor)];
      // opset 17: ReduceSum takes the axes as an input, the others as an attribute.
      const y = op === 'sum' ? g.node(onnxOp, [x, g.int64s(p.axes)], { keepdims }) : g.node(onnxOp, [x], { axes: attr.ints(p.axes), keepdims });
      return [y, reducedAxis(g, p)];
    },
  });
}

/** Sum over `dims` (all when omitted). @example sum(x, [0, 2, 3], { keepdim: true }) */
export const sum = defineReduce('sum', 'ReduceSum', (gy, x, _o, p) => spread(gy, x.shape, p.axes));

/** Mean over `dims` (all when omitted). @example mean(x, 0) */
export const mean = defineReduce('mean', 'ReduceMean', (gy, x, _o, p) =>
  mul(spread(gy, x.shape, p.axes), 1 / numel(p.axes.map((a) => x.shape[a]!))),
);

/** The gradient of max/min: to the positions equal to the result, split evenly among ties. */
function extremumGrad(gy: Tensor, x: Tensor, out: Tensor, p: ReduceParams): Tensor {
  const mask = eq(x, reshape(out, keepdimShape(x.shape, p.axes)));
  const count = sum(mask, p.axes, { keepdim: true });
  return mul(spread(gy, x.shape, p.axes), div(mask, count));
}

/** Maximum values over `dims` (all when omitted); the gradient goes to the maxima (ties split). */
export const max = defineReduce('max', 'ReduceMax', extremumGrad);

/** Minimum values over `dims` (all when omitted); the gradient goes to the minima (ties split). */
export const min = defineReduce('min', 'ReduceMin', extremumGrad);

/**
 * int32 index of the maximum along `dim` (first one on ties); without `dim`, the index into the
 * flattened tensor. Not differentiable.
 * @example argmax(logits, 1) // [N]
 */
export const argmax = defineOp({
  name: 'argmax',
  kernel: 'argmax',
  ints: 'float',
  setup: (x: Tensor, dim?: number | null, opts: ReduceOptions = {}) => {
    if (!(x instanceof Tensor)) return { inputs: [x], params: null as never, shape: [] };
    if (x.size === 0) throw new Error(`argmax: cannot take the argmax of an empty tensor (shape ${fmt(x.shape)})`);
    const keepdim = opts.keepdim ?? false;
    const flat = dim === undefined || dim === null || x.ndim === 0;
    if (x.ndim > 0 && !flat) normAxis(dim, x.ndim, 'argmax');
    const axis = flat ? 0 : normAxis(dim, x.ndim, 'argmax');
    const kshape = flat ? [x.size] : [...x.shape];
    const out = flat ? (keepdim ? x.shape.map(() => 1) : []) : outShapeOf(x.shape, [axis], keepdim);
    return { inputs: [x], params: { shape: x.shape, kshape, axis, flat, keepdim, out }, shape: out, dtype: 'int32' as const };
  },
  forward: (k, [x], p, c) => {
    let s = x as Storage;
    if (p.flat) s = c.tmp(k.reshape(s, p.shape, p.kshape));
    return k.reshape(c.tmp(k.argmax(s, p.kshape, p.axis)), keepdimShape(p.kshape, [p.axis]), p.out);
  },
  onnx: (g, p) => {
    let x = g.name(g.inputs[0]!);
    if (p.flat) x = g.inner('Reshape', [x, g.int64s([-1])]);
    const i64 = g.inner('ArgMax', [x], { axis: attr.int(p.axis), keepdims: attr.int(p.keepdim && !p.flat ? 1 : 0), select_last_index: attr.int(0) });
    const i32 = p.flat && p.keepdim ? g.inner('Cast', [i64], { to: attr.int(OnnxType.INT32) }) : null;
    if (i32 !== null) return [g.node('Reshape', [i32, g.int64s(p.out)]), -1];
    return [g.node('Cast', [i64], { to: attr.int(OnnxType.INT32) }), -1];
  },
});

/** int32 index of the minimum along `dim` (first one on ties): the argmax of -x. */
export function argmin(x: Tensor, dim?: number | null, opts: ReduceOptions = {}): Tensor {
  if (x instanceof Tensor && x.size === 0) throw new Error(`argmin: cannot take the argmin of an empty tensor (shape ${fmt(x.shape)})`);
  return argmax(neg(x instanceof Tensor && x.dtype === 'int32' ? x.to('float32') : x), dim, opts);
}

/**
 * Variance over `dims` (all when omitted) with divisor n - correction (default 1, unbiased, as
 * `torch.var`): made of mean, sub, mul and sum.
 * @example variance(x, [0, 2, 3], { keepdim: true, correction: 0 })
 */
export function variance(x: Tensor, dims?: Dims, opts: VarOptions = {}): Tensor {
  if (!(x instanceof Tensor)) throw new Error(`var: expected a Tensor, got ${x === null ? 'null' : typeof x}`);
  const axes = reduceAxes('var', dims, x.shape);
  if (opts.correction !== undefined && opts.unbiased !== undefined) {
    throw new Error('var: give either correction or unbiased, not both');
  }
  const correction = opts.correction ?? (opts.unbiased === false ? 0 : 1);
  const n = numel(axes.map((a) => x.shape[a]!));
  const divisor = Math.max(0, n - correction);
  const d = sub(x, mean(x, axes, { keepdim: true }));
  return div(sum(mul(d, d), axes, { keepdim: opts.keepdim ?? false }), divisor);
}

declare module '../tensor/tensor.js' {
  interface Tensor {
    /** Sum over dims (all when omitted). @example x.sum([0, 2, 3], { keepdim: true }) */
    sum(dims?: Dims, opts?: ReduceOptions): Tensor;
    mean(dims?: Dims, opts?: ReduceOptions): Tensor;
    /** Maximum values (not indices; see argmax). */
    max(dims?: Dims, opts?: ReduceOptions): Tensor;
    min(dims?: Dims, opts?: ReduceOptions): Tensor;
    argmax(dim?: number | null, opts?: ReduceOptions): Tensor;
    argmin(dim?: number | null, opts?: ReduceOptions): Tensor;
    /** Variance (unbiased by default, as torch.var). */
    var(dims?: Dims, opts?: VarOptions): Tensor;
  }
}

installMethods({
  sum(dims?: Dims, opts?: ReduceOptions) {
    return sum(this, dims, opts);
  },
  mean(dims?: Dims, opts?: ReduceOptions) {
    return mean(this, dims, opts);
  },
  max(dims?: Dims, opts?: ReduceOptions) {
    return max(this, dims, opts);
  },
  min(dims?: Dims, opts?: ReduceOptions) {
    return min(this, dims, opts);
  },
  argmax(dim?: number | null, opts?: ReduceOptions) {
    return argmax(this, dim, opts);
  },
  argmin(dim?: number | null, opts?: ReduceOptions) {
    return argmin(this, dim, opts);
  },
  var(dims?: Dims, opts?: VarOptions) {
    return variance(this, dims, opts);
  },
});
