/**
 * Layout kernels (any 4-byte dtype: data is moved as u32 bits): reshape, permute, slice, pad, cat,
 * and the index kernels. Each output element is computed by one thread that gathers its source
 * ("gather" form), so every kernel writes each output once, deterministically, without atomics;
 * the gradients of indexSelect and gatherRows (indexAdd, scatterRows) are gathers too.
 *
 * Indices come from int32 storages and are checked on the GPU: an out-of-range index writes 0 and
 * is reported (kernel, index, bound) by the next read-back (runtime.ts).
 */
import type { Shape } from '../kernels.js';
import { Runtime } from './runtime.js';
import type { GpuStorage } from './storage.js';
import { requireDType } from './elementwise.js';
import { flatGroups, flatMain, numel, storageBinding, stridedOffset, stridesOf, u } from './wgsl.js';

const ANY = ['float32', 'int32'] as const;

/** Same data, new shape: a second storage on the same buffer. */
export function reshape(x: GpuStorage, shape: Shape, newShape: Shape): GpuStorage {
  if (numel(shape) !== numel(newShape)) {
    throw new Error(`webgpu backend: reshape [${shape.join(', ')}] -> [${newShape.join(', ')}] changes the size`);
  }
  return x.share();
}

/** out[i] = x[src(i)] for a strided source view of x (permute and slice). */
function gatherStrided(rt: Runtime, name: string, x: GpuStorage, outShape: Shape, srcStrides: readonly number[], srcOffset: number): GpuStorage {
  requireDType(name, x, ANY);
  const n = numel(outShape);
  const out = rt.alloc(x.dtype, n);
  if (n === 0) return out;
  const code = `// ${name}
${storageBinding(0, 'X', 'u32', false)}
${storageBinding(1, 'O', 'u32', true)}
${flatMain(n, `${stridedOffset('src', 'idx', outShape, srcStrides)}\n  O[idx] = X[src + ${u(srcOffset)}];`)}`;
  rt.run(code, [x, out], flatGroups(n));
  return out;
}

/** Output axis d is input axis perm[d]. */
export function permute(rt: Runtime, x: GpuStorage, shape: Shape, perm: readonly number[]): GpuStorage {
  const inStrides = stridesOf(shape);
  return gatherStrided(
    rt,
    'permute',
    x,
    perm.map((p) => shape[p]!),
    perm.map((p) => inStrides[p]!),
    0,
  );
}

/** out = x[starts[d] : starts[d] + outShape[d]] along every axis. */
export function slice(rt: Runtime, x: GpuStorage, shape: Shape, starts: readonly number[], outShape: Shape): GpuStorage {
  const inStrides = stridesOf(shape);
  let off = 0;
  for (let d = 0; d < shape.length; d++) off += starts[d]! * inStrides[d]!;
  return gatherStrided(rt, 'slice', x, outShape, inStrides, off);
}

/** Zeros of `fullShape` with dy (of `shape`) at `starts`: each output element reads dy or writes 0. */
export function pad(rt: Runtime, dy: GpuStorage, shape: Shape, starts: readonly number[], fullShape: Shape): GpuStorage {
  requireDType('pad', dy, ANY);
  const n = numel(fullShape);
  const out = rt.alloc(dy.dtype, n);
  if (n === 0) return out;
  const srcStrides = stridesOf(shape);
  const lines = ['  var r: u32 = idx;', '  var src: u32 = 0u;', '  var inside = true;'];
  for (let d = fullShape.length - 1; d >= 0; d--) {
    const full = fullShape[d]!;
    const s0 = starts[d]!;
    const len = shape[d]!;
    lines.push(`  { let c = r % ${u(full)}; r = r / ${u(full)};`);
    if (s0 !== 0 || len !== full) lines.push(`    inside = inside && c >= ${u(s0)} && c < ${u(s0 + len)};`);
    lines.push(`    src = src + (c - min(c, ${u(s0)})) * ${u(srcStrides[d]!)}; }`);
  }
  lines.push(`  O[idx] = select(0u, X[min(src, ${u(Math.max(numel(shape), 1) - 1)})], inside);`);
  const code = `// pad
${storageBinding(0, 'X', 'u32', false)}
${storageBinding(1, 'O', 'u32', true)}
${flatMain(n, lines.join('\n'))}`;
  rt.run(code, [dy, out], flatGroups(n));
  return out;
}

/** Concatenation along `axis`: one dispatch per part writes its slab of the output. */
export function cat(rt: Runtime, xs: readonly GpuStorage[], shapes: readonly Shape[], axis: number): GpuStorage {
  if (xs.length === 0) throw new Error('webgpu backend: cat of no tensors');
  const dtype = xs[0]!.dtype;
  for (const x of xs) {
    requireDType('cat', x, ANY);
    if (x.dtype !== dtype) throw new Error(`webgpu backend: cat of ${dtype} and ${x.dtype} (the op must cast first)`);
  }
  const outShape = [...shapes[0]!];
  outShape[axis] = shapes.reduce((s, sh) => s + sh[axis]!, 0);
  const outStrides = stridesOf(outShape);
  const out = rt.alloc(dtype, numel(outShape));
  let offset = 0;
  xs.forEach((x, k) => {
    const sh = shapes[k]!;
    const n = numel(sh);
    if (n > 0) {
      const code = `// cat part
${storageBinding(0, 'X', 'u32', false)}
${storageBinding(1, 'O', 'u32', true)}
${flatMain(n, `${stridedOffset('dst', 'idx', sh, outStrides)}\n  O[dst + ${u(offset * outStrides[axis]!)}] = X[idx];`)}`;
      rt.run(code, [x, out], flatGroups(n));
    }
    offset += sh[axis]!;
  });
  return out;
}

/** [outer, len, inner] around `axis`. */
function splitAxis(shape: Shape, axis: number): { outer: number; len: number; inner: number } {
  let outer = 1;
  for (let d = 0; d < axis; d++) outer *= shape[d]!;
  let inner = 1;
  for (let d = axis + 1; d < shape.length; d++) inner *= shape[d]!;
  return { outer, len: shape[axis] ?? 1, inner };
}

/** out[.., j, ..] = x[.., idx[j], ..] along `axis`; output axis length n. */
export function indexSelect(rt: Runtime, x: GpuStorage, shape: Shape, axis: number, idx: GpuStorage, n: number): GpuStorage {
  requireDType('indexSelect', x, ANY);
  requireDType('indexSelect (index)', idx, ['int32']);
  const { outer, len, inner } = splitAxis(shape, axis);
  const total = outer * n * inner;
  const out = rt.alloc(x.dtype, total);
  if (total === 0) return out;
  const code = `// indexSelect
${storageBinding(0, 'X', 'u32', false)}
${storageBinding(1, 'I', 'i32', false)}
${storageBinding(2, 'O', 'u32', true)}
@group(0) @binding(3) var<storage, read_write> flags: array<atomic<u32>>;
${flatMain(
  total,
  `  let k = idx % ${u(inner)};
  let j = (idx / ${u(inner)}) % ${u(n)};
  let o = idx / ${u(n * inner)};
  let s = I[j];
  if (s < 0i || s >= ${len}i) {
    ${Runtime.reportBadIndex('indexSelect', 'flags', 's', u(len))}
    O[idx] = 0u;
    return;
  }
  O[idx] = X[(o * ${u(len)} + u32(s)) * ${u(inner)} + k];`,
)}`;
  rt.run(code, [x, idx, out, rt.flagBinding], flatGroups(total));
  return out;
}

/** Zeros of `outShape` plus dy's slices along `axis` at idx (repeats accumulate, in order of j). */
export function indexAdd(rt: Runtime, dy: GpuStorage, dyShape: Shape, axis: number, idx: GpuStorage, outShape: Shape): GpuStorage {
  requireDType('indexAdd', dy, ['float32']);
  requireDType('indexAdd (index)', idx, ['int32']);
  const { outer, len: n, inner } = splitAxis(dyShape, axis);
  const len = outShape[axis]!;
  const total = numel(outShape);
  const out = rt.alloc('float32', total);
  if (total === 0) return out;
  const code = `// indexAdd
${storageBinding(0, 'G', 'f32', false)}
${storageBinding(1, 'I', 'i32', false)}
${storageBinding(2, 'O', 'f32', true)}
@group(0) @binding(3) var<storage, read_write> flags: array<atomic<u32>>;
${flatMain(
  total,
  `  let k = idx % ${u(inner)};
  let l = i32((idx / ${u(inner)}) % ${u(len)});
  let o = idx / ${u(len * inner)};
  var acc: f32 = 0.0;
  for (var j: u32 = 0u; j < ${u(n)}; j = j + 1u) {
    let s = I[j];
    if (s == l) { acc = acc + G[(o * ${u(n)} + j) * ${u(inner)} + k]; }
    if (idx == 0u && (s < 0i || s >= ${len}i)) {
      ${Runtime.reportBadIndex('indexAdd', 'flags', 's', u(len))}
    }
  }
  O[idx] = acc;`,
)}`;
  rt.run(code, [dy, idx, out, rt.flagBinding], flatGroups(total));
  return out;
}

/** out[i] = x[i, target[i]] for x [N, C]. */
export function gatherRows(rt: Runtime, x: GpuStorage, shape: Shape, target: GpuStorage): GpuStorage {
  requireDType('gatherRows', x, ['float32']);
  requireDType('gatherRows (target)', target, ['int32']);
  const [N, C] = [shape[0]!, shape[1]!];
  const out = rt.alloc('float32', N);
  if (N === 0) return out;
  const code = `// gatherRows
${storageBinding(0, 'X', 'f32', false)}
${storageBinding(1, 'T', 'i32', false)}
${storageBinding(2, 'O', 'f32', true)}
@group(0) @binding(3) var<storage, read_write> flags: array<atomic<u32>>;
${flatMain(
  N,
  `  let t = T[idx];
  if (t < 0i || t >= ${C}i) {
    ${Runtime.reportBadIndex('gatherRows', 'flags', 't', u(C))}
    O[idx] = 0.0;
    return;
  }
  O[idx] = X[idx * ${u(C)} + u32(t)];`,
)}`;
  rt.run(code, [x, target, out, rt.flagBinding], flatGroups(N));
  return out;
}

/** Zeros [N, C] with dy[i] at (i, target[i]). */
export function scatterRows(rt: Runtime, dy: GpuStorage, shape: Shape, target: GpuStorage): GpuStorage {
  requireDType('scatterRows', dy, ['float32']);
  requireDType('scatterRows (target)', target, ['int32']);
  const [N, C] = [shape[0]!, shape[1]!];
  const total = N * C;
  const out = rt.alloc('float32', total);
  if (total === 0) return out;
  const code = `// scatterRows
${storageBinding(0, 'G', 'f32', false)}
${storageBinding(1, 'T', 'i32', false)}
${storageBinding(2, 'O', 'f32', true)}
@group(0) @binding(3) var<storage, read_write> flags: array<atomic<u32>>;
${flatMain(
  total,
  `  let i = idx / ${u(C)};
  let c = i32(idx % ${u(C)});
  let t = T[i];
  if (c == 0i && (t < 0i || t >= ${C}i)) {
    ${Runtime.reportBadIndex('scatterRows', 'flags', 't', u(C))}
  }
  O[idx] = select(0.0, G[i], c == t);`,
)}`;
  rt.run(code, [dy, target, out, rt.flagBinding], flatGroups(total));
  return out;
}
