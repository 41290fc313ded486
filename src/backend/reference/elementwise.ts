/**
 * Elementwise kernels over float32 / float64 storages (and int32 for add, sub, mul, maximum,
 * minimum and the comparisons). The result has the operands' dtype; comparisons give 1/0. Each op
 * is computed in double precision and rounded once to the dtype, which for + - * / sqrt gives
 * exactly the correctly rounded float32 result.
 */
import type { BinaryOp, DType, HostArray, Shape, Storage, UnaryOp } from '../kernels.js';
import { alloc, allocFloat, fl, ref, rounder, wrap } from './storage.js';
import { broadcastMap, numel } from './util.js';

/** Numerically stable logistic function: never evaluates exp of a large positive number. */
export function sigmoid(v: number): number {
  if (v >= 0) return 1 / (1 + Math.exp(-v));
  const e = Math.exp(v);
  return e / (1 + e);
}

/** The scalar function of a unary op (PyTorch semantics, incl. sign(0) = 0 and relu = max(x, 0)); `r` rounds intermediate steps to the dtype. */
export function unaryFn(op: UnaryOp, r: (v: number) => number = (v) => v): (v: number) => number {
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
      // PyTorch's sequence x * min(max(x + 3, 0), 6) / 6, each step rounded to the dtype
      return (v) => r(r(v * Math.min(Math.max(r(v + 3), 0), 6)) / 6);
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

/** y = op(x) in x's float dtype (computed in double, rounded once). */
export function unary(op: UnaryOp, x: Storage, shape: Shape): Storage {
  const xd = fl(x);
  const n = numel(shape);
  const fn = unaryFn(op, rounder(x.dtype));
  const y = allocFloat(x, n);
  for (let i = 0; i < n; i++) y[i] = fn(xd[i]!);
  return wrap(y);
}

/** Binary ops int32 storages support (the others are float-only). */
const INT_BINARY = new Set<BinaryOp>(['add', 'sub', 'mul', 'maximum', 'minimum', 'gt', 'ge', 'lt', 'le', 'eq']);

/** The data of an elementwise operand: floats, or int32 for the ops that keep integers. */
function operand(s: Storage, op: BinaryOp): HostArray {
  if (s.dtype === 'int32' && !INT_BINARY.has(op)) {
    throw new Error(`reference backend: binary '${op}' is not defined on int32 storages`);
  }
  return s.dtype === 'int32' ? ref(s).i32 : fl(s);
}

/** out = a op b with NumPy broadcasting to `outShape`; the result has the operands' dtype. */
export function binary(op: BinaryOp, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage {
  if (a.dtype !== b.dtype) throw new Error(`reference backend: binary '${op}' of ${a.dtype} and ${b.dtype} storages`);
  const ad = operand(a, op);
  const bd = operand(b, op);
  const n = numel(outShape);
  const fn = binaryFn(op);
  const out = alloc(a.dtype, n);
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

/** out = x op s, or s op x when `reverse` (s rounded to x's dtype first). */
export function scalar(op: BinaryOp, x: Storage, shape: Shape, s: number, reverse: boolean): Storage {
  const xd = operand(x, op);
  const n = numel(shape);
  const fn = binaryFn(op);
  // PyTorch converts a Python scalar to the tensor's type before operating
  // (so `t > 0.1` compares against float32(0.1) for a float32 tensor).
  const sv = x.dtype === 'int32' ? Math.trunc(s) : rounder(x.dtype)(s);
  const out = alloc(x.dtype, n);
  if (reverse) for (let i = 0; i < n; i++) out[i] = fn(sv, xd[i]!);
  else for (let i = 0; i < n; i++) out[i] = fn(xd[i]!, sv);
  return wrap(out);
}

/** out = min(max(x, lo), hi) (NaN stays NaN). */
export function clamp(x: Storage, shape: Shape, lo: number, hi: number): Storage {
  const xd = fl(x);
  const n = numel(shape);
  const r = rounder(x.dtype);
  const l = r(lo);
  const h = r(hi);
  const out = allocFloat(x, n);
  for (let i = 0; i < n; i++) {
    const v = xd[i]!;
    out[i] = v < l ? l : v > h ? h : v;
  }
  return wrap(out);
}

/** dx = dy where the relu output y > 0, else 0. */
export function reluBackward(dy: Storage, y: Storage, shape: Shape): Storage {
  const g = fl(dy);
  const yd = fl(y);
  const n = numel(shape);
  const dx = allocFloat(dy, n);
  for (let i = 0; i < n; i++) dx[i] = yd[i]! > 0 ? g[i]! : 0;
  return wrap(dx);
}

/** dx = dy * (y * (1 - y)) for the sigmoid output y (rounding to the dtype after each operation). */
export function sigmoidBackward(dy: Storage, y: Storage, shape: Shape): Storage {
  const g = fl(dy);
  const yd = fl(y);
  const n = numel(shape);
  const r = rounder(dy.dtype);
  const dx = allocFloat(dy, n);
  for (let i = 0; i < n; i++) {
    const v = yd[i]!;
    dx[i] = g[i]! * r(v * r(1 - v));
  }
  return wrap(dx);
}

/** dx = dy * (1 - y * y) for the tanh output y (rounding to the dtype after each operation). */
export function tanhBackward(dy: Storage, y: Storage, shape: Shape): Storage {
  const g = fl(dy);
  const yd = fl(y);
  const n = numel(shape);
  const r = rounder(dy.dtype);
  const dx = allocFloat(dy, n);
  for (let i = 0; i < n; i++) {
    const v = yd[i]!;
    dx[i] = g[i]! * r(1 - r(v * v));
  }
  return wrap(dx);
}

/** Converts to `to`; float -> int32 truncates toward zero (NaN gives 0; out of range wraps like a C cast would not: saturates). */
export function cast(x: Storage, shape: Shape, to: DType): Storage {
  const xd = ref(x).data;
  const n = numel(shape);
  const out = alloc(to, n);
  if (to === 'int32') {
    for (let i = 0; i < n; i++) {
      const v = xd[i]!;
      out[i] = v !== v ? 0 : Math.max(-2147483648, Math.min(2147483647, Math.trunc(v)));
    }
  } else {
    for (let i = 0; i < n; i++) out[i] = xd[i]!;
  }
  return wrap(out);
}

/** out = a + alpha * b (same shapes, one float dtype). */
export function axpy(a: Storage, b: Storage, shape: Shape, alpha: number): Storage {
  const ad = fl(a);
  const bd = fl(b);
  const n = numel(shape);
  const out = allocFloat(a, n);
  for (let i = 0; i < n; i++) out[i] = ad[i]! + alpha * bd[i]!;
  return wrap(out);
}
