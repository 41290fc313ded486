/**
 * Elementwise kernels. Values are read from either dtype and every result is float32 (the
 * elementwise ops are defined on floats; comparisons give float32 1/0). Each op is computed in
 * double precision and rounded once to float32, which for + - * / sqrt gives exactly the correctly
 * rounded float32 result.
 */
import type { BinaryOp, DType, Shape, Storage, UnaryOp } from '../kernels.js';
import { anyData, f32, wrap } from './storage.js';
import { broadcastMap, numel } from './util.js';

/** Numerically stable logistic function: never evaluates exp of a large positive number. */
export function sigmoid(v: number): number {
  if (v >= 0) return 1 / (1 + Math.exp(-v));
  const e = Math.exp(v);
  return e / (1 + e);
}

/** The scalar function of a unary op (PyTorch semantics, incl. sign(0) = 0 and relu = max(x, 0)). */
export function unaryFn(op: UnaryOp): (v: number) => number {
  switch (op) {
    case 'neg':
      return (v) => -v;
    case 'exp':
      return Math.exp;
    case 'log':
      return Math.log;
    case 'sqrt':
      return Math.sqrt;
    case 'rsqrt':
      return (v) => 1 / Math.sqrt(v);
    case 'abs':
      return Math.abs;
    case 'sign':
      // NaN and ±0 give 0, as torch.sign does.
      return (v) => (v > 0 ? 1 : v < 0 ? -1 : 0);
    case 'square':
      return (v) => v * v;
    case 'reciprocal':
      return (v) => 1 / v;
    case 'relu':
      // max(x, 0) that keeps NaN (like PyTorch); `v > 0 ? v : 0` would turn NaN into 0.
      return (v) => (v < 0 ? 0 : v);
    case 'sigmoid':
      return sigmoid;
    case 'tanh':
      return Math.tanh;
    case 'hardswish':
      // PyTorch's float32 sequence x * min(max(x + 3, 0), 6) / 6, each step rounded to float32
      return (v) => Math.fround(Math.fround(v * Math.min(Math.max(Math.fround(v + 3), 0), 6)) / 6);
    default:
      throw new Error(`reference backend: unknown unary op '${String(op)}'`);
  }
}

/** The scalar function of a binary op. maximum/minimum propagate NaN like PyTorch. */
export function binaryFn(op: BinaryOp): (a: number, b: number) => number {
  switch (op) {
    case 'add':
      return (a, b) => a + b;
    case 'sub':
      return (a, b) => a - b;
    case 'mul':
      return (a, b) => a * b;
    case 'div':
      return (a, b) => a / b;
    case 'pow':
      return Math.pow;
    case 'maximum':
      return Math.max;
    case 'minimum':
      return Math.min;
    case 'gt':
      return (a, b) => (a > b ? 1 : 0);
    case 'ge':
      return (a, b) => (a >= b ? 1 : 0);
    case 'lt':
      return (a, b) => (a < b ? 1 : 0);
    case 'le':
      return (a, b) => (a <= b ? 1 : 0);
    case 'eq':
      return (a, b) => (a === b ? 1 : 0);
    default:
      throw new Error(`reference backend: unknown binary op '${String(op)}'`);
  }
}

/** y = op(x). */
export function unary(op: UnaryOp, x: Storage, shape: Shape): Storage {
  const xd = anyData(x);
  const n = numel(shape);
  const fn = unaryFn(op);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) y[i] = fn(xd[i]!);
  return wrap(y);
}

/** out = a op b with NumPy broadcasting to `outShape`. */
export function binary(op: BinaryOp, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage {
  const ad = anyData(a);
  const bd = anyData(b);
  const n = numel(outShape);
  const fn = binaryFn(op);
  const out = new Float32Array(n);
  // Fast path for equal shapes; otherwise map every output element to its broadcast source.
  const aSame = numel(aShape) === n;
  const bSame = numel(bShape) === n;
  const aMap = aSame ? null : broadcastMap(aShape, outShape);
  const bMap = bSame ? null : broadcastMap(bShape, outShape);
  for (let i = 0; i < n; i++) {
    const av = ad[aMap === null ? i : aMap[i]!]!;
    const bv = bd[bMap === null ? i : bMap[i]!]!;
    out[i] = fn(av, bv);
  }
  return wrap(out);
}

/** out = x op s, or s op x when `reverse`. */
export function scalar(op: BinaryOp, x: Storage, shape: Shape, s: number, reverse: boolean): Storage {
  const xd = anyData(x);
  const n = numel(shape);
  const fn = binaryFn(op);
  // PyTorch converts a Python scalar to the tensor's float32 type before operating
  // (so `t > 0.1` compares against float32(0.1)).
  const sv = Math.fround(s);
  const out = new Float32Array(n);
  if (reverse) for (let i = 0; i < n; i++) out[i] = fn(sv, xd[i]!);
  else for (let i = 0; i < n; i++) out[i] = fn(xd[i]!, sv);
  return wrap(out);
}

/** out = min(max(x, lo), hi) (NaN stays NaN). */
export function clamp(x: Storage, shape: Shape, lo: number, hi: number): Storage {
  const xd = anyData(x);
  const n = numel(shape);
  const l = Math.fround(lo);
  const h = Math.fround(hi);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = xd[i]!;
    out[i] = v < l ? l : v > h ? h : v;
  }
  return wrap(out);
}

/** dx = dy where the relu output y > 0, else 0. */
export function reluBackward(dy: Storage, y: Storage, shape: Shape): Storage {
  const g = f32(dy);
  const yd = f32(y);
  const n = numel(shape);
  const dx = new Float32Array(n);
  for (let i = 0; i < n; i++) dx[i] = yd[i]! > 0 ? g[i]! : 0;
  return wrap(dx);
}

/** dx = dy * (y * (1 - y)) for the sigmoid output y (float32 rounding after each operation). */
export function sigmoidBackward(dy: Storage, y: Storage, shape: Shape): Storage {
  const g = f32(dy);
  const yd = f32(y);
  const n = numel(shape);
  const dx = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = yd[i]!;
    dx[i] = g[i]! * Math.fround(v * Math.fround(1 - v));
  }
  return wrap(dx);
}

/** dx = dy * (1 - y * y) for the tanh output y (float32 rounding after each operation). */
export function tanhBackward(dy: Storage, y: Storage, shape: Shape): Storage {
  const g = f32(dy);
  const yd = f32(y);
  const n = numel(shape);
  const dx = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = yd[i]!;
    dx[i] = g[i]! * Math.fround(1 - Math.fround(v * v));
  }
  return wrap(dx);
}

/** Converts between dtypes; float32 -> int32 truncates toward zero (NaN gives 0). */
export function cast(x: Storage, shape: Shape, from: DType, to: DType): Storage {
  const xd = anyData(x);
  const n = numel(shape);
  if ((from === 'int32') !== xd instanceof Int32Array) {
    throw new Error(`reference backend: cast from ${from} got a storage holding ${xd instanceof Int32Array ? 'int32' : 'float32'}`);
  }
  if (to === 'int32') {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.trunc(xd[i]!);
    return wrap(out);
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = xd[i]!;
  return wrap(out);
}

/** out = a + alpha * b (same shapes). */
export function axpy(a: Storage, b: Storage, shape: Shape, alpha: number): Storage {
  const ad = f32(a);
  const bd = f32(b);
  const n = numel(shape);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = ad[i]! + alpha * bd[i]!;
  return wrap(out);
}
