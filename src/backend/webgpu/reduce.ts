/**
 * Reductions over any set of axes (keepdim results) and argmax.
 *
 * Output element o reduces the elements at base(o) + roff(j), j < R, where base comes from o's
 * coordinates over the kept axes and roff from j's coordinates over the reduced axes (both with the
 * input's strides, baked in as constants). Long reductions with few outputs use one workgroup per
 * output (strided partial results, then a tree in workgroup memory: pairwise sums keep float32
 * round-off small); everything else one thread per output.
 * max/min propagate NaN like PyTorch; empty reductions give sum 0, mean NaN, max -Inf, min +Inf.
 */
import type { ReduceOp, Shape } from '../kernels.js';
import type { Runtime } from './runtime.js';
import type { GpuStorage } from './storage.js';
import { requireDType } from './elementwise.js';
import { PRELUDE, flatGroups, flatMain, numel, storageBinding, stridedOffset, stridesOf, u, wgslType } from './wgsl.js';

/** The keepdim shape of a reduction. */
export function keepdimShape(shape: Shape, axes: readonly number[]): number[] {
  return shape.map((d, k) => (axes.includes(k) ? 1 : d));
}

/** Identity value, combine step and final step of each reduction, in WGSL over f32 `acc` and `v`. */
function opCode(op: ReduceOp): { init: string; combine: string } {
  switch (op) {
    case 'sum':
    case 'mean':
      return { init: '0.0', combine: 'acc = acc + v;' };
    case 'max':
      // Once acc is NaN it stays NaN; a NaN v wins.
      return { init: '-inf_f32()', combine: 'if (!is_nan(acc) && (is_nan(v) || v > acc)) { acc = v; }' };
    case 'min':
      return { init: 'inf_f32()', combine: 'if (!is_nan(acc) && (is_nan(v) || v < acc)) { acc = v; }' };
    default:
      throw new Error(`webgpu backend: unknown reduce op '${String(op)}'`);
  }
}

/** Workgroup size of the one-workgroup-per-output path. */
const RWG = 256;

/** Reduces over `axes` (sorted, unique); the result has the keepdim shape. */
export function reduce(rt: Runtime, op: ReduceOp, x: GpuStorage, shape: Shape, axes: readonly number[]): GpuStorage {
  requireDType(`reduce ${op}`, x, ['float32']);
  const outShape = keepdimShape(shape, axes);
  const n = numel(shape);
  const m = numel(outShape);
  const R = m === 0 ? 0 : n / m;
  const out = rt.alloc('float32', m);
  if (m === 0) return out;
  const { init, combine } = opCode(op);
  const strides = stridesOf(shape);
  const reducedShape = shape.map((d, k) => (axes.includes(k) ? d : 1));
  const finish = op === 'mean' ? (R === 0 ? 'acc = nan_f32();' : `acc = acc / ${R}.0;`) : '';
  const head = `// reduce ${op}
${PRELUDE}
${storageBinding(0, 'X', 'f32', false)}
${storageBinding(1, 'O', 'f32', true)}
fn roff(j: u32) -> u32 {
${stridedOffset('off', 'j', reducedShape, strides)}
  return off;
}`;
  if (R >= RWG && m <= 65535 * 4) {
    // One workgroup per output: thread t accumulates j = t, t + RWG, ...; then a tree.
    const code = `${head}
var<workgroup> part: array<f32, ${RWG}>;
@compute @workgroup_size(${RWG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let o = wid.x + wid.y * nwg.x;
  let valid = o < ${u(m)};
${stridedOffset('base', 'o', outShape, strides)}
  var acc: f32 = ${init};
  if (valid) {
    for (var j: u32 = t; j < ${u(R)}; j = j + ${u(RWG)}) {
      let v = X[base + roff(j)];
      ${combine}
    }
  }
  part[t] = acc;
  workgroupBarrier();
  for (var s: u32 = ${u(RWG / 2)}; s > 0u; s = s >> 1u) {
    if (t < s) {
      acc = part[t];
      let v = part[t + s];
      ${combine}
      part[t] = acc;
    }
    workgroupBarrier();
  }
  if (t == 0u && valid) {
    acc = part[0];
    ${finish}
    O[o] = acc;
  }
}`;
    const gx = Math.min(m, 65535);
    rt.run(code, [x, out], [gx, Math.ceil(m / gx), 1]);
    return out;
  }
  const code = `${head}
${flatMain(
  m,
  `${stridedOffset('base', 'idx', outShape, strides)}
  var acc: f32 = ${init};
  for (var j: u32 = 0u; j < ${u(R)}; j = j + 1u) {
    let v = X[base + roff(j)];
    ${combine}
  }
  ${finish}
  O[idx] = acc;`,
)}`;
  rt.run(code, [x, out], flatGroups(m));
  return out;
}

/** int32 index of the maximum along `axis` (keepdim shape); the first maximum wins, NaN is maximal. */
export function argmax(rt: Runtime, x: GpuStorage, shape: Shape, axis: number): GpuStorage {
  requireDType('argmax', x, ['float32', 'int32']);
  const t = wgslType(x.dtype);
  let outer = 1;
  for (let d = 0; d < axis; d++) outer *= shape[d]!;
  let inner = 1;
  for (let d = axis + 1; d < shape.length; d++) inner *= shape[d]!;
  const len = shape[axis]!;
  const m = outer * inner;
  const out = rt.alloc('int32', m);
  if (m === 0) return out;
  const nanStop = t === 'f32' ? 'if (is_nan(best)) { break; }' : '';
  const better = t === 'f32' ? '(v > best || is_nan(v))' : 'v > best';
  const code = `// argmax ${t}
${PRELUDE}
${storageBinding(0, 'X', t, false)}
${storageBinding(1, 'O', 'i32', true)}
${flatMain(
  m,
  `  let o = idx / ${u(inner)};
  let k = idx % ${u(inner)};
  let base = o * ${u(len * inner)} + k;
  var best = X[base];
  var bi: i32 = 0i;
  for (var j: u32 = 1u; j < ${u(len)}; j = j + 1u) {
    ${nanStop}
    let v = X[base + j * ${u(inner)}];
    if (${better}) { best = v; bi = i32(j); }
  }
  O[idx] = bi;`,
)}`;
  rt.run(code, [x, out], flatGroups(m));
  return out;
}
