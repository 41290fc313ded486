/**
 * Elementwise kernels in WGSL: unary, binary with NumPy broadcasting, tensor-scalar ops, clamp,
 * the activation backwards, cast, axpy and fill. One thread per output element; shapes and
 * broadcast strides are compile-time constants, scalars are uniforms.
 *
 * PyTorch semantics the WGSL builtins do not guarantee are written out: NaN propagation of
 * maximum/minimum/clamp, comparisons with NaN giving 0, pow of negative bases and the C rules
 * pow(x, 0) = pow(1, y) = 1, log/sqrt/rsqrt of zero and negative numbers, and overflow-free
 * sigmoid/tanh.
 */
import type { BinaryOp, DType, Shape, UnaryOp } from '../kernels.js';
import type { Runtime } from './runtime.js';
import { GpuStorage } from './storage.js';
import { PRELUDE, flatGroups, flatMain, numel, storageBinding, stridedOffset, stridesOf, uniforms, wgslType } from './wgsl.js';

/** Throws the error the op runner would give, for direct callers that skip the `dtypes` check. */
export function requireDType(kernel: string, s: GpuStorage, allowed: readonly DType[]): void {
  if (!allowed.includes(s.dtype)) {
    throw new Error(`webgpu backend: ${kernel} has no ${s.dtype} kernel (it has ${allowed.join(', ')})`);
  }
}

/** Float helpers with PyTorch's special-value behaviour. */
const FLOAT_FNS = /* wgsl */ `
fn f_log(v: f32) -> f32 {
  if (v == 0.0) { return -inf_f32(); }
  if (v < 0.0 || is_nan(v)) { return nan_f32(); }
  if (is_inf(v)) { return inf_f32(); }
  return log(v);
}
fn f_sqrt(v: f32) -> f32 {
  if (v < 0.0 || is_nan(v)) { return nan_f32(); }
  if (is_inf(v)) { return inf_f32(); }
  return sqrt(v);
}
fn f_rsqrt(v: f32) -> f32 {
  if (v == 0.0) { return select(inf_f32(), -inf_f32(), (bitcast<u32>(v) & 0x80000000u) != 0u); }
  if (v < 0.0 || is_nan(v)) { return nan_f32(); }
  if (is_inf(v)) { return 0.0; }
  return 1.0 / sqrt(v);
}
fn f_exp(v: f32) -> f32 {
  if (is_nan(v)) { return nan_f32(); }
  if (v > 88.72284f) { return inf_f32(); }
  if (v < -103.97208f) { return 0.0; }
  return exp(v);
}
fn f_sigmoid(v: f32) -> f32 {
  if (is_nan(v)) { return nan_f32(); }
  if (v >= 0.0) { return 1.0 / (1.0 + f_exp(-v)); }
  let e = f_exp(v);
  return e / (1.0 + e);
}
fn f_tanh(v: f32) -> f32 {
  if (is_nan(v)) { return nan_f32(); }
  let a = abs(v);
  var t: f32;
  if (a < 0.625) {
    t = tanh(a);
  } else if (a > 9.01) {
    t = 1.0;
  } else {
    let e = exp(-2.0 * a);
    t = (1.0 - e) / (1.0 + e);
  }
  return select(t, -t, v < 0.0);
}
fn f_max(a: f32, b: f32) -> f32 {
  if (is_nan(a) || is_nan(b)) { return nan_f32(); }
  return select(b, a, a > b);
}
fn f_min(a: f32, b: f32) -> f32 {
  if (is_nan(a) || is_nan(b)) { return nan_f32(); }
  return select(b, a, a < b);
}
fn f_is_int(b: f32) -> bool { return !is_inf(b) && floor(b) == b; }
fn f_is_odd(b: f32) -> bool { return f_is_int(b) && abs(b) < 16777216.0 && floor(b * 0.5) != b * 0.5; }
fn f_pow(a: f32, b: f32) -> f32 {
  if (b == 0.0 || a == 1.0) { return 1.0; }
  if (is_nan(a) || is_nan(b)) { return nan_f32(); }
  if (b == 1.0) { return a; }
  if (b == 2.0) { return a * a; }
  let aa = abs(a);
  if (is_inf(b)) {
    if (aa == 1.0) { return 1.0; }
    return select(0.0, inf_f32(), (aa > 1.0) == (b > 0.0));
  }
  let neg = a < 0.0 || (a == 0.0 && (bitcast<u32>(a) & 0x80000000u) != 0u);
  if (a < 0.0 && !f_is_int(b)) { return nan_f32(); }
  var r: f32;
  if (aa == 0.0) {
    r = select(inf_f32(), 0.0, b > 0.0);
  } else if (is_inf(aa)) {
    r = select(0.0, inf_f32(), b > 0.0);
  } else {
    r = exp2(b * log2(aa));
  }
  return select(r, -r, neg && f_is_odd(b));
}
fn f_hardswish(v: f32) -> f32 {
  if (is_nan(v)) { return nan_f32(); }
  return v * clamp(v + 3.0, 0.0, 6.0) / 6.0;
}
`;

/** The WGSL expression of a unary op on `v` (float32). */
function unaryExpr(op: UnaryOp): string {
  switch (op) {
    case 'neg':
      return '-v';
    case 'exp':
      return 'f_exp(v)';
    case 'log':
      return 'f_log(v)';
    case 'sqrt':
      return 'f_sqrt(v)';
    case 'rsqrt':
      return 'f_rsqrt(v)';
    case 'abs':
      return 'abs(v)';
    case 'sign':
      // NaN and ±0 give 0, as torch.sign.
      return 'select(select(0.0, -1.0, v < 0.0), 1.0, v > 0.0)';
    case 'square':
      return 'v * v';
    case 'reciprocal':
      return '1.0 / v';
    case 'relu':
      // max(v, 0) keeping NaN (PyTorch).
      return 'select(v, 0.0, v < 0.0)';
    case 'sigmoid':
      return 'f_sigmoid(v)';
    case 'tanh':
      return 'f_tanh(v)';
    case 'hardswish':
      return 'f_hardswish(v)';
    default:
      throw new Error(`webgpu backend: unknown unary op '${String(op)}'`);
  }
}

/** Binary ops that int32 operands support (others are float-only). */
export const INT_BINARY: readonly BinaryOp[] = ['add', 'sub', 'mul', 'maximum', 'minimum', 'gt', 'ge', 'lt', 'le', 'eq'];

/** The WGSL expression of `a op b` for scalar type `t`. */
function binaryExpr(op: BinaryOp, t: 'f32' | 'i32'): string {
  const one = t === 'f32' ? '1.0' : '1i';
  const zero = t === 'f32' ? '0.0' : '0i';
  // Comparisons with a NaN operand are false (IEEE), written out for compilers that assume no NaN.
  const ordered = t === 'f32' ? '!(is_nan(a) || is_nan(b)) && ' : '';
  const cmp = (c: string): string => `select(${zero}, ${one}, ${ordered}(a ${c} b))`;
  switch (op) {
    case 'add':
      return 'a + b';
    case 'sub':
      return 'a - b';
    case 'mul':
      return 'a * b';
    case 'div':
      return 'a / b';
    case 'pow':
      return 'f_pow(a, b)';
    case 'maximum':
      return t === 'f32' ? 'f_max(a, b)' : 'max(a, b)';
    case 'minimum':
      return t === 'f32' ? 'f_min(a, b)' : 'min(a, b)';
    case 'gt':
      return cmp('>');
    case 'ge':
      return cmp('>=');
    case 'lt':
      return cmp('<');
    case 'le':
      return cmp('<=');
    case 'eq':
      return cmp('==');
    default:
      throw new Error(`webgpu backend: unknown binary op '${String(op)}'`);
  }
}

function checkBinaryDType(kernel: string, op: BinaryOp, dtype: DType): void {
  if (dtype === 'float32') return;
  if (dtype === 'int32' && INT_BINARY.includes(op)) return;
  throw new Error(`webgpu backend: ${kernel} ${op} has no ${dtype} kernel (int32 supports ${INT_BINARY.join(', ')})`);
}

/** y = op(x). */
export function unary(rt: Runtime, op: UnaryOp, x: GpuStorage, shape: Shape): GpuStorage {
  requireDType(`unary ${op}`, x, ['float32']);
  const n = numel(shape);
  const y = rt.alloc('float32', n);
  const code = `// unary ${op}
${PRELUDE}${FLOAT_FNS}
${storageBinding(0, 'x', 'f32', false)}
${storageBinding(1, 'y', 'f32', true)}
${flatMain(n, `  let v = x[idx];\n  y[idx] = ${unaryExpr(op)};`)}`;
  rt.run(code, [x, y], flatGroups(n));
  return y;
}

/** Strides reading an input of `inShape` broadcast over `outShape` (0 along broadcast axes). */
function broadcastStrides(inShape: Shape, outShape: Shape): number[] {
  const inStrides = stridesOf(inShape);
  const off = outShape.length - inShape.length;
  const s = new Array<number>(outShape.length).fill(0);
  for (let d = 0; d < inShape.length; d++) if (inShape[d] !== 1) s[d + off] = inStrides[d]!;
  return s;
}

/** WGSL computing `name`, the flat index of the element of an `inShape` input at output `idx`. */
function broadcastIndex(name: string, inShape: Shape, outShape: Shape): string {
  const n = numel(outShape);
  if (numel(inShape) === n) return `  let ${name} = idx;`;
  if (numel(inShape) === 1) return `  let ${name} = 0u;`;
  return stridedOffset(name, 'idx', outShape, broadcastStrides(inShape, outShape));
}

/** out = a op b with NumPy broadcasting of aShape and bShape to outShape. */
export function binary(rt: Runtime, op: BinaryOp, a: GpuStorage, aShape: Shape, b: GpuStorage, bShape: Shape, outShape: Shape): GpuStorage {
  if (a.dtype !== b.dtype) throw new Error(`webgpu backend: binary ${op} of ${a.dtype} and ${b.dtype} (the op must cast first)`);
  checkBinaryDType('binary', op, a.dtype);
  const t = wgslType(a.dtype);
  const n = numel(outShape);
  const out = rt.alloc(a.dtype, n);
  const code = `// binary ${op} ${t}
${PRELUDE}${t === 'f32' ? FLOAT_FNS : ''}
${storageBinding(0, 'A', t, false)}
${storageBinding(1, 'B', t, false)}
${storageBinding(2, 'O', t, true)}
${flatMain(n, `${broadcastIndex('ia', aShape, outShape)}\n${broadcastIndex('ib', bShape, outShape)}\n  let a = A[ia];\n  let b = B[ib];\n  O[idx] = ${binaryExpr(op, t)};`)}`;
  rt.run(code, [a, b, out], flatGroups(n));
  return out;
}

/** out = x op s (or s op x when `reverse`); s is rounded to x's dtype first (float32, or truncated for int32). */
export function scalar(rt: Runtime, op: BinaryOp, x: GpuStorage, shape: Shape, s: number, reverse: boolean): GpuStorage {
  checkBinaryDType('scalar', op, x.dtype);
  const t = wgslType(x.dtype);
  const n = numel(shape);
  const out = rt.alloc(x.dtype, n);
  const sv = t === 'i32' ? Math.trunc(s) | 0 : s;
  const U = uniforms(2, [{ name: 's', type: t, value: sv }]);
  const [l, r] = reverse ? ['p.s', 'X[idx]'] : ['X[idx]', 'p.s'];
  const code = `// scalar ${op} ${t}
${PRELUDE}${t === 'f32' ? FLOAT_FNS : ''}
${storageBinding(0, 'X', t, false)}
${storageBinding(1, 'O', t, true)}
${U.decl}
${flatMain(n, `  let a = ${l};\n  let b = ${r};\n  O[idx] = ${binaryExpr(op, t)};`)}`;
  rt.run(code, [x, out], flatGroups(n), U.data);
  return out;
}

/** out = min(max(x, lo), hi) with NaN kept; lo/hi may be ±Infinity. */
export function clamp(rt: Runtime, x: GpuStorage, shape: Shape, lo: number, hi: number): GpuStorage {
  requireDType('clamp', x, ['float32']);
  const n = numel(shape);
  const out = rt.alloc('float32', n);
  const U = uniforms(2, [
    { name: 'lo', type: 'f32', value: lo },
    { name: 'hi', type: 'f32', value: hi },
  ]);
  const code = `// clamp
${storageBinding(0, 'X', 'f32', false)}
${storageBinding(1, 'O', 'f32', true)}
${U.decl}
${flatMain(n, `  let v = X[idx];\n  O[idx] = select(select(v, p.hi, v > p.hi), p.lo, v < p.lo);`)}`;
  rt.run(code, [x, out], flatGroups(n), U.data);
  return out;
}

/** dx from dy and the activation output y: `expr` in terms of g (dy) and v (y). */
function activationBackward(rt: Runtime, name: string, dy: GpuStorage, y: GpuStorage, shape: Shape, expr: string): GpuStorage {
  requireDType(name, dy, ['float32']);
  requireDType(name, y, ['float32']);
  const n = numel(shape);
  const dx = rt.alloc('float32', n);
  const code = `// ${name}
${storageBinding(0, 'G', 'f32', false)}
${storageBinding(1, 'Y', 'f32', false)}
${storageBinding(2, 'D', 'f32', true)}
${flatMain(n, `  let g = G[idx];\n  let v = Y[idx];\n  D[idx] = ${expr};`)}`;
  rt.run(code, [dy, y, dx], flatGroups(n));
  return dx;
}

/** dx = dy where y > 0 else 0. */
export function reluBackward(rt: Runtime, dy: GpuStorage, y: GpuStorage, shape: Shape): GpuStorage {
  return activationBackward(rt, 'reluBackward', dy, y, shape, 'select(0.0, g, v > 0.0)');
}

/** dx = dy * (y * (1 - y)). */
export function sigmoidBackward(rt: Runtime, dy: GpuStorage, y: GpuStorage, shape: Shape): GpuStorage {
  return activationBackward(rt, 'sigmoidBackward', dy, y, shape, 'g * (v * (1.0 - v))');
}

/** dx = dy * (1 - y * y). */
export function tanhBackward(rt: Runtime, dy: GpuStorage, y: GpuStorage, shape: Shape): GpuStorage {
  return activationBackward(rt, 'tanhBackward', dy, y, shape, 'g * (1.0 - v * v)');
}

/**
 * Converts between float32 and int32: float -> int truncates toward zero, NaN gives 0 and values
 * beyond the int32 range saturate (WGSL's conversion; JavaScript's Int32Array would wrap them).
 */
export function cast(rt: Runtime, x: GpuStorage, shape: Shape, to: DType): GpuStorage {
  requireDType('cast', x, ['float32', 'int32']);
  const n = numel(shape);
  const out = rt.alloc(to, n);
  wgslType(to);
  let body: string;
  if (x.dtype === to) body = '  O[idx] = X[idx];';
  else if (to === 'int32') body = '  let v = X[idx];\n  O[idx] = select(i32(v), 0i, is_nan(v));';
  else body = '  O[idx] = f32(X[idx]);';
  const code = `// cast ${x.dtype} -> ${to}
${PRELUDE}
${storageBinding(0, 'X', wgslType(x.dtype), false)}
${storageBinding(1, 'O', wgslType(to), true)}
${flatMain(n, body)}`;
  rt.run(code, [x, out], flatGroups(n));
  return out;
}

/** out = a + alpha * b. */
export function axpy(rt: Runtime, a: GpuStorage, b: GpuStorage, shape: Shape, alpha: number): GpuStorage {
  requireDType('axpy', a, ['float32']);
  requireDType('axpy', b, ['float32']);
  const n = numel(shape);
  const out = rt.alloc('float32', n);
  const U = uniforms(3, [{ name: 'alpha', type: 'f32', value: alpha }]);
  const code = `// axpy
${storageBinding(0, 'A', 'f32', false)}
${storageBinding(1, 'B', 'f32', false)}
${storageBinding(2, 'O', 'f32', true)}
${U.decl}
${flatMain(n, '  O[idx] = A[idx] + p.alpha * B[idx];')}`;
  rt.run(code, [a, b, out], flatGroups(n), U.data);
  return out;
}

/** A new storage of `n` elements of `dtype`, all `value` (float32-rounded, or truncated for int32). */
export function fill(rt: Runtime, dtype: DType, n: number, value: number): GpuStorage {
  const out = rt.alloc(dtype, n);
  const bits = new Uint32Array(1);
  if (dtype === 'int32') new Int32Array(bits.buffer)[0] = Math.trunc(value);
  else if (dtype === 'float32') new Float32Array(bits.buffer)[0] = value;
  else wgslType(dtype);
  const U = uniforms(1, [{ name: 'bits', type: 'u32', value: bits[0]! }]);
  const code = `// fill
${storageBinding(0, 'O', 'u32', true)}
${U.decl}
${flatMain(n, '  O[idx] = p.bits;')}`;
  rt.run(code, [out], flatGroups(n), U.data);
  return out;
}

