/**
 * Tensor methods, so that PyTorch code ports line by line: `x.sub(m).pow(2).mean([0, 2, 3], { keepdim: true })`.
 * Each method calls the op of the same name (see the op for semantics). Installed on
 * `Tensor.prototype` when this module is imported (ops/index.ts does).
 */
import type { DType } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import * as ew from './elementwise.js';
import * as act from './activation.js';
import * as red from './reduce.js';
import * as la from './linalg.js';
import * as sh from './shape.js';
import { dimsArg } from './util.js';

type Operand = ew.Operand;
type Dims = red.Dims;
type Sizes = (number | readonly number[])[];

declare module '../tensor/tensor.js' {
  interface Tensor {
    /** this + other (broadcasting). */
    add(other: Operand): Tensor;
    /** this - other. */
    sub(other: Operand): Tensor;
    /** this * other. */
    mul(other: Operand): Tensor;
    /** this / other. */
    div(other: Operand): Tensor;
    /** this ** exponent. */
    pow(exponent: Operand): Tensor;
    /** Elementwise maximum with other. */
    maximum(other: Operand): Tensor;
    /** Elementwise minimum with other. */
    minimum(other: Operand): Tensor;
    /** this > other as 1/0. */
    gt(other: Operand): Tensor;
    /** this >= other as 1/0. */
    ge(other: Operand): Tensor;
    /** this < other as 1/0. */
    lt(other: Operand): Tensor;
    /** this <= other as 1/0. */
    le(other: Operand): Tensor;
    /** this == other as 1/0. */
    eq(other: Operand): Tensor;
    /** this != other as 1/0. */
    ne(other: Operand): Tensor;
    neg(): Tensor;
    sqrt(): Tensor;
    rsqrt(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    abs(): Tensor;
    sign(): Tensor;
    square(): Tensor;
    reciprocal(): Tensor;
    /** `x.clamp({ min: 0 })` or `x.clamp(lo, hi)` (null leaves a side open). */
    clamp(minOrOpts: ew.ClampOptions | number | null, max?: number | null): Tensor;
    relu(): Tensor;
    sigmoid(): Tensor;
    tanh(): Tensor;
    softmax(dim?: number): Tensor;
    logSoftmax(dim?: number): Tensor;
    /** Sum over dims (all when omitted). @example x.sum([0, 2, 3], { keepdim: true }) */
    sum(dims?: Dims, opts?: red.ReduceOptions): Tensor;
    mean(dims?: Dims, opts?: red.ReduceOptions): Tensor;
    /** Maximum values (not indices; see argmax). */
    max(dims?: Dims, opts?: red.ReduceOptions): Tensor;
    min(dims?: Dims, opts?: red.ReduceOptions): Tensor;
    argmax(dim?: number | null, opts?: red.ReduceOptions): Tensor;
    argmin(dim?: number | null, opts?: red.ReduceOptions): Tensor;
    /** Variance (unbiased by default, as torch.var). */
    var(dims?: Dims, opts?: red.VarOptions): Tensor;
    matmul(other: Tensor): Tensor;
    /** `x.reshape([N, -1])` or `x.reshape(N, -1)`. */
    reshape(...shape: Sizes): Tensor;
    view(...shape: Sizes): Tensor;
    flatten(startDim?: number, endDim?: number): Tensor;
    /** `x.permute(0, 2, 3, 1)` or `x.permute([0, 2, 3, 1])`. */
    permute(...dims: Sizes): Tensor;
    transpose(dim0: number, dim1: number): Tensor;
    squeeze(dim?: number | readonly number[]): Tensor;
    unsqueeze(dim: number): Tensor;
    /** `x.expand(4, -1)` or `x.expand([4, -1])`. */
    expand(...sizes: Sizes): Tensor;
    broadcastTo(shape: readonly number[]): Tensor;
    sumTo(shape: readonly number[]): Tensor;
    slice(dim: number, start?: number, end?: number): Tensor;
    narrow(dim: number, start: number, length: number): Tensor;
    indexSelect(dim: number, index: Tensor): Tensor;
    /** Shares data, leaves the autograd graph. */
    detach(): Tensor;
    clone(): Tensor;
    cast(dtype: DType): Tensor;
    /** Cast to float32. */
    float(): Tensor;
    /** Cast to int32 (truncating). */
    int(): Tensor;
  }
}

const methods: Partial<Record<keyof Tensor, unknown>> = {
  add(this: Tensor, o: Operand) {
    return ew.add(this, o);
  },
  sub(this: Tensor, o: Operand) {
    return ew.sub(this, o);
  },
  mul(this: Tensor, o: Operand) {
    return ew.mul(this, o);
  },
  div(this: Tensor, o: Operand) {
    return ew.div(this, o);
  },
  pow(this: Tensor, o: Operand) {
    return ew.pow(this, o);
  },
  maximum(this: Tensor, o: Operand) {
    return ew.maximum(this, o);
  },
  minimum(this: Tensor, o: Operand) {
    return ew.minimum(this, o);
  },
  gt(this: Tensor, o: Operand) {
    return ew.gt(this, o);
  },
  ge(this: Tensor, o: Operand) {
    return ew.ge(this, o);
  },
  lt(this: Tensor, o: Operand) {
    return ew.lt(this, o);
  },
  le(this: Tensor, o: Operand) {
    return ew.le(this, o);
  },
  eq(this: Tensor, o: Operand) {
    return ew.eq(this, o);
  },
  ne(this: Tensor, o: Operand) {
    return ew.ne(this, o);
  },
  neg(this: Tensor) {
    return ew.neg(this);
  },
  sqrt(this: Tensor) {
    return ew.sqrt(this);
  },
  rsqrt(this: Tensor) {
    return ew.rsqrt(this);
  },
  exp(this: Tensor) {
    return ew.exp(this);
  },
  log(this: Tensor) {
    return ew.log(this);
  },
  abs(this: Tensor) {
    return ew.abs(this);
  },
  sign(this: Tensor) {
    return ew.sign(this);
  },
  square(this: Tensor) {
    return ew.square(this);
  },
  reciprocal(this: Tensor) {
    return ew.reciprocal(this);
  },
  clamp(this: Tensor, minOrOpts: ew.ClampOptions | number | null, max?: number | null) {
    if (minOrOpts !== null && typeof minOrOpts === 'object') return ew.clamp(this, minOrOpts);
    return ew.clamp(this, { min: minOrOpts ?? undefined, max: max ?? undefined });
  },
  relu(this: Tensor) {
    return act.relu(this);
  },
  sigmoid(this: Tensor) {
    return act.sigmoid(this);
  },
  tanh(this: Tensor) {
    return act.tanh(this);
  },
  softmax(this: Tensor, dim?: number) {
    return act.softmax(this, dim);
  },
  logSoftmax(this: Tensor, dim?: number) {
    return act.logSoftmax(this, dim);
  },
  sum(this: Tensor, dims?: Dims, opts?: red.ReduceOptions) {
    return red.sum(this, dims, opts);
  },
  mean(this: Tensor, dims?: Dims, opts?: red.ReduceOptions) {
    return red.mean(this, dims, opts);
  },
  max(this: Tensor, dims?: Dims, opts?: red.ReduceOptions) {
    return red.max(this, dims, opts);
  },
  min(this: Tensor, dims?: Dims, opts?: red.ReduceOptions) {
    return red.min(this, dims, opts);
  },
  argmax(this: Tensor, dim?: number | null, opts?: red.ReduceOptions) {
    return red.argmax(this, dim, opts);
  },
  argmin(this: Tensor, dim?: number | null, opts?: red.ReduceOptions) {
    return red.argmin(this, dim, opts);
  },
  var(this: Tensor, dims?: Dims, opts?: red.VarOptions) {
    return red.variance(this, dims, opts);
  },
  matmul(this: Tensor, o: Tensor) {
    return la.matmul(this, o);
  },
  reshape(this: Tensor, ...shape: Sizes) {
    return sh.reshape(this, dimsArg(shape));
  },
  view(this: Tensor, ...shape: Sizes) {
    return sh.view(this, dimsArg(shape));
  },
  flatten(this: Tensor, startDim?: number, endDim?: number) {
    return sh.flatten(this, startDim, endDim);
  },
  permute(this: Tensor, ...dims: Sizes) {
    return sh.permute(this, dimsArg(dims));
  },
  transpose(this: Tensor, d0: number, d1: number) {
    return sh.transpose(this, d0, d1);
  },
  squeeze(this: Tensor, dim?: number | readonly number[]) {
    return sh.squeeze(this, dim);
  },
  unsqueeze(this: Tensor, dim: number) {
    return sh.unsqueeze(this, dim);
  },
  expand(this: Tensor, ...sizes: Sizes) {
    return sh.expand(this, dimsArg(sizes));
  },
  broadcastTo(this: Tensor, shape: readonly number[]) {
    return sh.broadcastTo(this, shape);
  },
  sumTo(this: Tensor, shape: readonly number[]) {
    return sh.sumTo(this, shape);
  },
  slice(this: Tensor, dim: number, start?: number, end?: number) {
    return sh.slice(this, dim, start, end);
  },
  narrow(this: Tensor, dim: number, start: number, length: number) {
    return sh.narrow(this, dim, start, length);
  },
  indexSelect(this: Tensor, dim: number, index: Tensor) {
    return sh.indexSelect(this, dim, index);
  },
  detach(this: Tensor) {
    return sh.detach(this);
  },
  clone(this: Tensor) {
    return sh.clone(this);
  },
  cast(this: Tensor, dtype: DType) {
    return ew.cast(this, dtype);
  },
  float(this: Tensor) {
    return ew.cast(this, 'float32');
  },
  int(this: Tensor) {
    return ew.cast(this, 'int32');
  },
};

for (const [name, fn] of Object.entries(methods)) {
  Object.defineProperty(Tensor.prototype, name, { value: fn, writable: true, configurable: true, enumerable: false });
}
