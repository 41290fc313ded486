/**
 * softmax / logSoftmax along any axis (numerically stable: the row maximum is subtracted first) and
 * their gradients from the output. A "row" is the `len` values along the axis at one (outer, inner)
 * position. Short rows (class scores) run one thread per row; long rows one workgroup per row with
 * tree reductions. Rows holding NaN or +Inf give NaN, an all −Inf row gives NaN, as in PyTorch.
 */
import type { Shape } from '../kernels.js';
import type { Runtime } from './runtime.js';
import type { GpuStorage } from './storage.js';
import { requireDType } from './elementwise.js';
import { PRELUDE, flatGroups, flatMain, storageBinding, treeReduce, u } from './wgsl.js';

const SWG = 256;

/** exp, max and log with PyTorch's special values. */
const FNS = `
fn s_exp(v: f32) -> f32 {
  if (is_nan(v)) { return nan_f32(); }
  if (v < -103.97208f) { return 0.0; }
  if (v > 88.72284f) { return inf_f32(); }
  return exp(v);
}
fn s_max(a: f32, b: f32) -> f32 {
  if (is_nan(a) || is_nan(b)) { return nan_f32(); }
  return select(b, a, a > b);
}
fn s_log(v: f32) -> f32 {
  if (is_nan(v) || v < 0.0) { return nan_f32(); }
  if (v == 0.0) { return -inf_f32(); }
  if (is_inf(v)) { return inf_f32(); }
  return log(v);
}`;

function split(shape: Shape, axis: number): { outer: number; len: number; inner: number } {
  let outer = 1;
  for (let d = 0; d < axis; d++) outer *= shape[d]!;
  let inner = 1;
  for (let d = axis + 1; d < shape.length; d++) inner *= shape[d]!;
  return { outer, len: shape[axis]!, inner };
}

/**
 * A row kernel: `perRow(read, loop)` code for the thread-per-row path; for the workgroup path the
 * same formulas with strided loops and tree reductions. Both see `base` (offset of element 0 of the
 * row) and the row stride `inner`.
 */
function rowKernel(rt: Runtime, name: string, bindings: GpuStorage[], decls: string, rows: number, len: number, inner: number, threadBody: string, groupBody: string): void {
  const head = `// ${name}
${PRELUDE}${FNS}
${decls}`;
  const baseOf = (r: string): string => `(${r} / ${u(inner)}) * ${u(len * inner)} + ${r} % ${u(inner)}`;
  if (len < 128) {
    rt.run(`${head}\n${flatMain(rows, `  let base = ${baseOf('idx')};\n${threadBody}`)}`, bindings, flatGroups(rows));
    return;
  }
  const code = `${head}
${treeReduce('max', SWG, 's_max(a, b)')}
${treeReduce('sum', SWG, 'a + b')}
@compute @workgroup_size(${SWG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= ${u(rows)}) { return; }
  let base = ${baseOf('row')};
${groupBody}
}`;
  const gx = Math.min(rows, 65535);
  rt.run(code, bindings, [gx, Math.ceil(rows / gx), 1]);
}

/** softmax(x) = exp(x − max) / Σ exp(x − max); logSoftmax(x) = x − max − log Σ exp(x − max). */
export function softmax(rt: Runtime, x: GpuStorage, shape: Shape, axis: number, log: boolean): GpuStorage {
  requireDType(log ? 'logSoftmax' : 'softmax', x, ['float32']);
  const { outer, len, inner } = split(shape, axis);
  const rows = outer * inner;
  const y = rt.alloc('float32', rows * len);
  if (rows * len === 0) return y;
  const at = (i: string): string => `base + ${i} * ${u(inner)}`;
  const write = log ? `Y[${at('i')}] = X[${at('i')}] - mx - lse;` : `Y[${at('i')}] = s_exp(X[${at('i')}] - mx) / s;`;
  const decls = `${storageBinding(0, 'X', 'f32', false)}\n${storageBinding(1, 'Y', 'f32', true)}`;
  const threadBody = `  var mx: f32 = -inf_f32();
  for (var i: u32 = 0u; i < ${u(len)}; i = i + 1u) { mx = s_max(mx, X[${at('i')}]); }
  var s: f32 = 0.0;
  for (var i: u32 = 0u; i < ${u(len)}; i = i + 1u) { s = s + s_exp(X[${at('i')}] - mx); }
  let lse = s_log(s);
  for (var i: u32 = 0u; i < ${u(len)}; i = i + 1u) { ${write} }`;
  const groupBody = `  var pm: f32 = -inf_f32();
  for (var i: u32 = t; i < ${u(len)}; i = i + ${u(SWG)}) { pm = s_max(pm, X[${at('i')}]); }
  let mx = tree_max(t, pm);
  var ps: f32 = 0.0;
  for (var i: u32 = t; i < ${u(len)}; i = i + ${u(SWG)}) { ps = ps + s_exp(X[${at('i')}] - mx); }
  let s = tree_sum(t, ps);
  let lse = s_log(s);
  for (var i: u32 = t; i < ${u(len)}; i = i + ${u(SWG)}) { ${write} }`;
  rowKernel(rt, log ? 'logSoftmax' : 'softmax', [x, y], decls, rows, len, inner, threadBody, groupBody);
  return y;
}

/** softmax: dx = y·(dy − Σ dy·y); logSoftmax: dx = dy − exp(y)·Σ dy (sums along the axis). */
export function softmaxBackward(rt: Runtime, dy: GpuStorage, y: GpuStorage, shape: Shape, axis: number, log: boolean): GpuStorage {
  requireDType('softmaxBackward', dy, ['float32']);
  requireDType('softmaxBackward', y, ['float32']);
  const { outer, len, inner } = split(shape, axis);
  const rows = outer * inner;
  const dx = rt.alloc('float32', rows * len);
  if (rows * len === 0) return dx;
  const at = (i: string): string => `base + ${i} * ${u(inner)}`;
  const term = log ? `G[${at('i')}]` : `G[${at('i')}] * Y[${at('i')}]`;
  const write = log ? `DX[${at('i')}] = G[${at('i')}] - s_exp(Y[${at('i')}]) * s;` : `DX[${at('i')}] = Y[${at('i')}] * (G[${at('i')}] - s);`;
  const decls = `${storageBinding(0, 'G', 'f32', false)}\n${storageBinding(1, 'Y', 'f32', false)}\n${storageBinding(2, 'DX', 'f32', true)}`;
  const threadBody = `  var s: f32 = 0.0;
  for (var i: u32 = 0u; i < ${u(len)}; i = i + 1u) { s = s + ${term}; }
  for (var i: u32 = 0u; i < ${u(len)}; i = i + 1u) { ${write} }`;
  const groupBody = `  var ps: f32 = 0.0;
  for (var i: u32 = t; i < ${u(len)}; i = i + ${u(SWG)}) { ps = ps + ${term}; }
  let s = tree_sum(t, ps);
  for (var i: u32 = t; i < ${u(len)}; i = i + ${u(SWG)}) { ${write} }`;
  rowKernel(rt, log ? 'logSoftmaxBackward' : 'softmaxBackward', [dy, y, dx], decls, rows, len, inner, threadBody, groupBody);
  return dx;
}
