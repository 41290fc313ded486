/**
 * Shape and layout ops: reshape/view, flatten, squeeze/unsqueeze, permute/transpose, cat/stack,
 * slice/narrow, indexSelect, expand/broadcastTo (and its adjoint sumTo), detach, clone.
 * All of them keep the dtype (cat and stack promote mixed dtypes, as PyTorch); gradients flow only
 * through floating-point tensors.
 */
import type { Shape, Storage } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt, normAxis, numel, sameShape } from '../tensor/shape.js';
import { defineOp, type OpInput } from './op.js';
import { attr, type OnnxLowering } from './onnx-api.js';
import { installMethods } from './method.js';

/** `shape` with the axes in `axes` set to 1 (a reduction's keepdim shape). */
export function keepdimShape(shape: Shape, axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** Dims given as a number, an array, or spread arguments -> a plain array. */
export function dimsArg(args: readonly (number | readonly number[])[]): number[] {
  if (args.length === 1 && Array.isArray(args[0])) return [...(args[0] as readonly number[])];
  return args.map((a) => {
    if (typeof a !== 'number') throw new Error(`expected numbers or one array of numbers, got ${JSON.stringify(args)}`);
    return a;
  });
}

/** Throws naming `op` unless `x` is a Tensor. */
function checkTensor(op: string, x: unknown): asserts x is Tensor {
  if (!(x instanceof Tensor)) throw new Error(`${op}: expected a Tensor, got ${x === null ? 'null' : Array.isArray(x) ? 'an array' : typeof x}`);
}

// ---- reshape ---------------------------------------------------------------------------------

/** Resolves a target shape with at most one -1 for a tensor of `n` elements; throws naming `op`. */
function resolveShape(op: string, from: Shape, shape: readonly number[]): number[] {
  const n = numel(from);
  let infer = -1;
  let known = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i]!;
    if (d === -1) {
      if (infer >= 0) throw new Error(`${op}: only one dimension can be -1, got ${fmt(shape)}`);
      infer = i;
    } else if (!Number.isInteger(d) || d < 0) {
      throw new Error(`${op}: invalid size ${d} in shape ${fmt(shape)}`);
    } else {
      known *= d;
    }
  }
  const out = [...shape];
  if (infer >= 0) {
    if (known === 0 || n % known !== 0) {
      throw new Error(`${op}: cannot reshape a tensor of shape ${fmt(from)} (${n} elements) into ${fmt(shape)}`);
    }
    out[infer] = n / known;
  } else if (known !== n) {
    throw new Error(`${op}: cannot reshape a tensor of shape ${fmt(from)} (${n} elements) into ${fmt(shape)}`);
  }
  return out;
}

/** A reshape's ONNX lowering, keeping a symbolic batch in dim 0. */
function reshapeOnnx(g: OnnxLowering, p: { from: Shape; shape: Shape }): [string, number] {
  const x = g.inputs[0] as Tensor;
  const to = p.shape;
  const axisIn = g.batchAxis(x);
  if (axisIn < 0) return [g.node('Reshape', [g.name(x), g.int64s(to)]), -1];
  if (axisIn > 0) {
    throw g.fail(`a reshape of ${fmt(x.shape)} whose batch dim is dim ${axisIn} cannot be exported with dynamicBatch (pass dynamicBatch: false)`);
  }
  // A symbolic batch stays in dim 0 (copied, or inferred when dims are folded into or out of it, as
  // Linear does for 3-D inputs); the other dims are taken as fixed.
  const n = x.shape[0]!;
  if (to.length === 0 || to[0]! % g.batch !== 0) {
    throw g.fail(`a reshape from ${fmt(x.shape)} to ${fmt(to)} moves the batch dim and cannot be exported with dynamicBatch (pass dynamicBatch: false)`);
  }
  if (to.length === 2 && to[0] === n && x.ndim >= 2) return [g.node('Flatten', [g.name(x)], { axis: attr.int(1) }), 0];
  return [g.node('Reshape', [g.name(x), g.int64s([to[0] === n ? 0 : -1, ...to.slice(1)])]), 0];
}

/** Same data in a new, already resolved shape (no copy where the backend allows). */
const reshapeOp: (x: Tensor, shape: Shape) => Tensor = defineOp({
  name: 'reshape',
  kernel: 'reshape',
  dtypes: 'any',
  ints: 'keep',
  setup: (x: Tensor, shape: Shape) => ({ inputs: [x], params: { from: x.shape, shape }, shape }),
  forward: (k, [x], p) => k.reshape(x as Storage, p.from, p.shape),
  backward: (gy, c) => [reshapeOp(gy, c.params.from)],
  saves: () => ({ inputs: [] }),
  onnx: reshapeOnnx,
});

/**
 * The same data in a new shape with the same number of elements; one dimension may be -1 (inferred).
 * Shares memory with `x` where the backend allows.
 * @example reshape(x, [x.shape[0]!, -1])
 */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor('reshape', x);
  return reshapeOp(x, resolveShape('reshape', x.shape, shape));
}

/** Alias of `reshape` (PyTorch's `view`; memory layout is the backend's concern here). */
export function view(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor('view', x);
  return reshapeOp(x, resolveShape('view', x.shape, shape));
}

/**
 * Flattens dims `startDim..endDim` into one (as `torch.flatten`: defaults 0 and -1, so everything).
 * @example flatten(x, 1) // [N, C, H, W] -> [N, C*H*W]
 */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  checkTensor('flatten', x);
  if (x.ndim === 0) return reshapeOp(x, [1]);
  const s = normAxis(startDim, x.ndim, 'flatten');
  const e = normAxis(endDim, x.ndim, 'flatten');
  if (s > e) throw new Error(`flatten: startDim ${startDim} comes after endDim ${endDim} for a tensor of shape ${fmt(x.shape)}`);
  return reshapeOp(x, [...x.shape.slice(0, s), numel(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

/** Removes size-1 dims: all of them, or only `dim` (a number or a list) when it has size 1. */
export function squeeze(x: Tensor, dim?: number | readonly number[]): Tensor {
  checkTensor('squeeze', x);
  let drop: number[];
  if (dim === undefined) drop = x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
  else {
    const ds = typeof dim === 'number' ? [dim] : [...dim];
    drop = x.ndim === 0 ? [] : ds.map((d) => normAxis(d, x.ndim, 'squeeze')).filter((d) => x.shape[d] === 1);
  }
  return reshapeOp(x, x.shape.filter((_, i) => !drop.includes(i)));
}

/** Inserts a size-1 dim at `dim` (in [-ndim-1, ndim]). @example unsqueeze(b, 0) // [C] -> [1, C] */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  checkTensor('unsqueeze', x);
  const d = insertAxis('unsqueeze', dim, x.ndim);
  const shape = [...x.shape];
  shape.splice(d, 0, 1);
  return reshapeOp(x, shape);
}

/** Normalizes a position for a new axis of a rank-`ndim` tensor (valid range [-ndim-1, ndim]). */
function insertAxis(op: string, dim: number, ndim: number): number {
  const d = dim < 0 ? dim + ndim + 1 : dim;
  if (!Number.isInteger(d) || d < 0 || d > ndim) {
    throw new Error(`${op}: dim ${dim} is out of range [${-ndim - 1}, ${ndim}] for a tensor of ${ndim} dims`);
  }
  return d;
}

/** A new tensor sharing `x`'s data that is not part of the autograd graph. */
export function detach(x: Tensor): Tensor {
  checkTensor('detach', x);
  const k = x.kernels;
  return new Tensor(k.reshape(x.storage, x.shape, x.shape), x.shape, x.dtype, k);
}

/** A copy of `x` in fresh memory (gradient passes through). */
export const clone = defineOp({
  name: 'clone',
  kernel: 'slice',
  dtypes: 'any',
  ints: 'keep',
  setup: (x: Tensor) => ({ inputs: [x], params: { shape: x?.shape }, shape: x?.shape }),
  forward: (k, [x], p) => k.slice(x as Storage, p.shape, p.shape.map(() => 0), p.shape),
  backward: (gy) => [gy],
  saves: () => ({ inputs: [] }),
  onnx: (g) => g.node('Identity', [g.name(g.inputs[0]!)]),
});

// ---- permute -------------------------------------------------------------------------------

const permuteOp: (x: Tensor, perm: readonly number[]) => Tensor = defineOp({
  name: 'permute',
  kernel: 'permute',
  dtypes: 'any',
  ints: 'keep',
  setup: (x: Tensor, perm: readonly number[]) => ({ inputs: [x], params: { from: x.shape, perm }, shape: perm.map((p) => x.shape[p]!) }),
  forward: (k, [x], p) => {
    const s = x as Storage;
    const identity = p.perm.every((v, i) => v === i);
    return identity ? k.reshape(s, p.from, p.from) : k.permute(s, p.from, p.perm);
  },
  backward: (gy, c) => {
    const inv = new Array<number>(c.params.perm.length);
    c.params.perm.forEach((p, i) => (inv[p] = i));
    return [permuteOp(gy, inv)];
  },
  saves: () => ({ inputs: [] }),
  onnx: (g, p): [string, number] => [g.node('Transpose', [g.name(g.inputs[0]!)], { perm: attr.ints(p.perm) }), p.perm.indexOf(g.batchAxis(g.inputs[0] as Tensor))],
});

/**
 * Reorders the dims: output dim i is input dim `dims[i]` (negative dims allowed).
 * @example permute(x, [0, 2, 3, 1]) // NCHW -> NHWC
 */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  checkTensor('permute', x);
  if (dims.length !== x.ndim) {
    throw new Error(`permute: got ${dims.length} dims ${fmt(dims)} for a tensor of shape ${fmt(x.shape)}`);
  }
  const perm = dims.map((d) => normAxis(d, x.ndim, 'permute'));
  if (new Set(perm).size !== perm.length) throw new Error(`permute: dims ${fmt(dims)} repeat a dim (shape ${fmt(x.shape)})`);
  return permuteOp(x, perm);
}

/** Swaps two dims. @example transpose(x, -1, -2) */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  checkTensor('transpose', x);
  if (x.ndim === 0) return permuteOp(x, []);
  const a = normAxis(dim0, x.ndim, 'transpose');
  const b = normAxis(dim1, x.ndim, 'transpose');
  const perm = x.shape.map((_, i) => i);
  perm[a] = b;
  perm[b] = a;
  return permuteOp(x, perm);
}

// ---- cat / stack -----------------------------------------------------------------------------

function checkList(op: string, xs: readonly Tensor[]): void {
  if (!Array.isArray(xs) || xs.length === 0) throw new Error(`${op}: expected a non-empty array of tensors`);
  xs.forEach((x, i) => {
    if (!(x instanceof Tensor)) throw new Error(`${op}: entry ${i} is not a tensor (got ${x === null ? 'null' : typeof x})`);
  });
}

const catOp = defineOp({
  name: 'cat',
  kernel: 'cat',
  dtypes: 'promote',
  ints: 'keep',
  setup: (xs: readonly Tensor[], axis: number) => {
    const shapes = xs.map((x) => x.shape);
    const shape = [...shapes[0]!];
    shape[axis] = shapes.reduce((s, sh) => s + sh[axis]!, 0);
    return { inputs: xs as readonly OpInput[], params: { axis, shapes }, shape };
  },
  forward: (k, xs, p) => k.cat(xs as Storage[], p.shapes, p.axis),
  backward: (gy, c) => {
    const { axis, shapes } = c.params;
    let off = 0;
    return shapes.map((sh, i) => {
      const start = off;
      off += sh[axis]!;
      if (!c.needs[i]) return null;
      return sliceOp(gy, gy.shape.map((_, j) => (j === axis ? start : 0)), sh);
    });
  },
  saves: () => ({ inputs: [] }),
  onnx: (g, p): [string, number] => {
    const axisIn = g.batchAxis(g.inputs[0] as Tensor);
    return [g.node('Concat', g.inputs.map((v) => g.name(v)), { axis: attr.int(p.axis) }), axisIn === p.axis ? -1 : axisIn];
  },
});

/**
 * Concatenates tensors along `dim` (all other dims must match; mixed dtypes are promoted).
 * @example cat([a, b], 1) // DenseNet: [N, C1, H, W] + [N, C2, H, W] -> [N, C1+C2, H, W]
 */
export function cat(xs: readonly Tensor[], dim = 0): Tensor {
  checkList('cat', xs);
  const x0 = xs[0]!;
  if (x0.ndim === 0) throw new Error('cat: zero-dimensional tensors cannot be concatenated (use stack)');
  const d = normAxis(dim, x0.ndim, 'cat');
  xs.forEach((x, i) => {
    const ok = x.ndim === x0.ndim && x.shape.every((s, j) => j === d || s === x0.shape[j]);
    if (!ok) {
      throw new Error(`cat: tensors must have the same shape except in dim ${d}, got ${fmt(x0.shape)} (entry 0) and ${fmt(x.shape)} (entry ${i})`);
    }
  });
  return catOp(xs, d);
}

/** Stacks equal-shape tensors along a new dim. @example stack([a, b], 0) // two [3] -> [2, 3] */
export function stack(xs: readonly Tensor[], dim = 0): Tensor {
  checkList('stack', xs);
  const x0 = xs[0]!;
  xs.forEach((x, i) => {
    if (!sameShape(x.shape, x0.shape)) {
      throw new Error(`stack: expects tensors of equal shape, got ${fmt(x0.shape)} (entry 0) and ${fmt(x.shape)} (entry ${i})`);
    }
  });
  const d = insertAxis('stack', dim, x0.ndim);
  return catOp(
    xs.map((x) => unsqueeze(x, d)),
    d,
  );
}

// ---- slicing and indexing -----------------------------------------------------------------------

/** The sub-block `starts .. starts + shape` of x (slice and narrow). */
const sliceOp = defineOp({
  name: 'slice',
  kernel: 'slice',
  dtypes: 'any',
  ints: 'keep',
  setup: (x: Tensor, starts: readonly number[], shape: Shape) => ({ inputs: [x], params: { from: x.shape, starts, shape }, shape }),
  forward: (k, [x], p) => k.slice(x as Storage, p.from, p.starts, p.shape),
  backward: (gy, c) => [c.wrap(gy.kernels.pad(gy.storage, gy.shape, c.params.starts, c.params.from), c.params.from)],
  saves: () => ({ inputs: [] }),
  onnx: (g, p): [string, number] => {
    const x = g.inputs[0] as Tensor;
    const axisIn = g.batchAxis(x);
    const axes = p.from.map((_, i) => i).filter((i) => p.starts[i] !== 0 || p.shape[i] !== p.from[i]);
    if (axes.includes(axisIn)) throw g.fail(`slicing the batch dim of ${fmt(x.shape)} cannot be exported with dynamicBatch (pass dynamicBatch: false)`);
    if (axes.length === 0) return [g.node('Identity', [g.name(x)]), axisIn];
    const starts = axes.map((a) => p.starts[a]!);
    const ends = axes.map((a) => p.starts[a]! + p.shape[a]!);
    return [g.node('Slice', [g.name(x), g.int64s(starts), g.int64s(ends), g.int64s(axes)]), axisIn];
  },
});

/**
 * Elements `start` (inclusive) to `end` (exclusive) along `dim`, with Python slice rules: negative
 * positions count from the end and out-of-range bounds are clamped.
 * @example slice(x, 1, 0, 2) // x[:, 0:2]
 */
export function slice(x: Tensor, dim: number, start = 0, end?: number): Tensor {
  checkTensor('slice', x);
  if (x.ndim === 0) throw new Error('slice: cannot slice a zero-dimensional tensor');
  const d = normAxis(dim, x.ndim, 'slice');
  const len = x.shape[d]!;
  const clampPos = (v: number, what: string): number => {
    if (!Number.isInteger(v)) throw new Error(`slice: ${what} must be an integer, got ${v}`);
    const p = v < 0 ? v + len : v;
    return Math.min(Math.max(p, 0), len);
  };
  const s = clampPos(start, 'start');
  const e = Math.max(s, end === undefined ? len : clampPos(end, 'end'));
  return sliceOp(
    x,
    x.shape.map((_, j) => (j === d ? s : 0)),
    x.shape.map((n, j) => (j === d ? e - s : n)),
  );
}

/**
 * `length` elements from `start` along `dim` (as `torch.narrow`: the range must lie inside the dim).
 * @example narrow(x, 0, 2, 3) // rows 2, 3, 4
 */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  checkTensor('narrow', x);
  if (x.ndim === 0) throw new Error('narrow: cannot narrow a zero-dimensional tensor');
  const d = normAxis(dim, x.ndim, 'narrow');
  const len = x.shape[d]!;
  const s = start < 0 ? start + len : start;
  if (!Number.isInteger(length) || length < 0) throw new Error(`narrow: length must be an integer >= 0, got ${length}`);
  if (!Number.isInteger(s) || s < 0 || s + length > len) {
    throw new Error(`narrow: start ${start} + length ${length} exceeds dim ${d} of size ${len} (shape ${fmt(x.shape)})`);
  }
  return sliceOp(
    x,
    x.shape.map((_, j) => (j === d ? s : 0)),
    x.shape.map((n, j) => (j === d ? length : n)),
  );
}

/**
 * Selects entries `index` (an int32 1-D tensor) along `dim`; repeated indices repeat entries.
 * @example indexSelect(x, 0, tensor([2, 0], { dtype: 'int32' }))
 */
export const indexSelect = defineOp({
  name: 'indexSelect',
  kernel: 'indexSelect',
  dtypes: 'any',
  ints: 'keep',
  setup: (x: Tensor, dim: number, index: Tensor) => {
    checkTensor('indexSelect', x);
    checkTensor('indexSelect', index);
    if (index.dtype !== 'int32') throw new Error(`indexSelect: index must be int32, got ${index.dtype} of shape ${fmt(index.shape)}`);
    if (index.ndim > 1) throw new Error(`indexSelect: index must be 1-D, got shape ${fmt(index.shape)}`);
    if (x.ndim === 0) throw new Error('indexSelect: cannot index a zero-dimensional tensor');
    const axis = normAxis(dim, x.ndim, 'indexSelect');
    const n = index.size;
    return { inputs: [x, index], params: { from: x.shape, axis, n }, shape: x.shape.map((s, j) => (j === axis ? n : s)), fixed: [1] };
  },
  forward: (k, [x, idx], p) => {
    try {
      return k.indexSelect(x as Storage, p.from, p.axis, idx as Storage, p.n);
    } catch (e) {
      throw new Error(`indexSelect: ${(e as Error).message} (input ${fmt(p.from)}, dim ${p.axis})`, { cause: e });
    }
  },
  backward: (gy, c) => [c.wrap(gy.kernels.indexAdd(gy.storage, gy.shape, c.params.axis, (c.inputs[1] as Tensor).storage, c.params.from), c.params.from), null],
  onnx: (g, p): [string, number] => {
    const x = g.inputs[0] as Tensor;
    const axisIn = g.batchAxis(x);
    if (axisIn === p.axis) throw g.fail(`indexSelect along the batch dim cannot be exported with dynamicBatch (pass dynamicBatch: false)`);
    return [g.node('Gather', [g.name(x), g.name(g.inputs[1]!)], { axis: attr.int(p.axis) }), axisIn];
  },
});

// ---- broadcasting --------------------------------------------------------------------------------

/** Resolves `expand`'s target sizes (-1 keeps a dim) and checks them; throws naming `op`. */
function expandShape(op: string, x: Tensor, sizes: readonly number[]): number[] {
  const lead = sizes.length - x.ndim;
  const bad = (): never => {
    throw new Error(`${op}: cannot expand a tensor of shape ${fmt(x.shape)} to ${fmt(sizes)}`);
  };
  if (lead < 0) bad();
  return sizes.map((s, i) => {
    if (i < lead) {
      if (!Number.isInteger(s) || s < 0) bad();
      return s;
    }
    const cur = x.shape[i - lead]!;
    if (s === -1) return cur;
    if (!Number.isInteger(s) || s < 0 || (cur !== 1 && cur !== s)) {
      throw new Error(
        `${op}: the expanded size ${s} must match the existing size ${cur} at non-singleton dim ${i} (target ${fmt(sizes)}, tensor ${fmt(x.shape)})`,
      );
    }
    return s;
  });
}

/** `x` materialized at a broadcast shape (already validated). */
const expandOp = defineOp({
  name: 'expand',
  kernel: 'reshape',
  dtypes: 'any',
  ints: 'keep',
  setup: (x: Tensor, shape: Shape) => ({ inputs: [x], params: { from: x.shape, shape }, shape }),
  forward: (k, [x], p, c) => {
    const s = x as Storage;
    if (sameShape(p.from, p.shape)) return k.reshape(s, p.from, p.shape);
    if (s.dtype !== 'int32') {
      // x + zeros(shape): the kernel broadcasts x onto the full-size operand.
      return k.binary('add', s, p.from, c.tmp(k.full(p.shape, s.dtype, 0)), p.shape, p.shape);
    }
    // int32: repeat index 0 along every broadcast axis (exact, keeps the dtype).
    let cur: number[] = [...new Array<number>(p.shape.length - p.from.length).fill(1), ...p.from];
    let st = c.tmp(k.reshape(s, p.from, cur));
    for (let d = 0; d < p.shape.length; d++) {
      if (cur[d] === p.shape[d]) continue;
      const n = p.shape[d]!;
      st = c.tmp(k.indexSelect(st, cur, d, c.tmp(k.full([n], 'int32', 0)), n));
      cur = cur.map((v, j) => (j === d ? n : v));
    }
    return k.reshape(st, cur, p.shape);
  },
  backward: (gy, c) => [sumTo(gy, c.params.from)],
  saves: () => ({ inputs: [] }),
  onnx: (g, p): [string, number] => {
    const x = g.inputs[0] as Tensor;
    const axisIn = g.batchAxis(x);
    const lead = p.shape.length - p.from.length;
    if (g.dynamicBatch && axisIn < 0 && p.shape.length > 0 && p.from[0 - lead] !== p.shape[0]) {
      // Expanding a constant to the batch size fixes the batch.
      throw g.fail(`expanding ${fmt(p.from)} to ${fmt(p.shape)} fixes the batch size and cannot be exported with dynamicBatch (pass dynamicBatch: false)`);
    }
    // ONNX's Expand keeps the input's size where the target says 1: a symbolic batch stays symbolic.
    const out = axisIn < 0 ? -1 : axisIn + lead;
    const target = g.dynamicBatch && out >= 0 ? p.shape.map((d, i) => (i === out ? 1 : d)) : p.shape;
    return [g.node('Expand', [g.name(x), g.int64s(target)]), out];
  },
});

/**
 * `x` repeated along size-1 dims (and new leading dims) to `sizes`; -1 keeps a dim. The result is
 * a materialized copy (gradient: `sumTo` back to `x`'s shape).
 * @example expand(tensor([[1], [2]]), [2, 3]) // [[1, 1, 1], [2, 2, 2]]
 */
export function expand(x: Tensor, sizes: readonly number[]): Tensor {
  checkTensor('expand', x);
  return expandOp(x, expandShape('expand', x, sizes));
}

/** `x` broadcast to `shape` by NumPy rules (`torch.broadcast_to`). */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor('broadcastTo', x);
  return expandOp(x, expandShape('broadcastTo', x, shape));
}

/** Sums over the broadcast axes of `shape` inside `from`. */
const sumToOp = defineOp({
  name: 'sumTo',
  kernel: 'reduce',
  ints: 'float',
  setup: (x: Tensor, shape: Shape, axes: readonly number[]) => ({ inputs: [x], params: { from: x.shape, shape, axes }, shape }),
  forward: (k, [x], p, c) => k.reshape(c.tmp(k.reduce('sum', x as Storage, p.from, p.axes)), keepdimShape(p.from, p.axes), p.shape),
  backward: (gy, c) => [expandOp(gy, c.params.from)],
  saves: () => ({ inputs: [] }),
  onnx: (g, p): [string, number] => {
    const x = g.inputs[0] as Tensor;
    const axisIn = g.batchAxis(x);
    const lead = p.from.length - p.shape.length;
    const summed = g.inner('ReduceSum', [g.name(x), g.int64s(p.axes)], { keepdims: attr.int(1) });
    if (p.axes.includes(axisIn)) return [g.node('Reshape', [summed, g.int64s(p.shape)]), -1];
    return [g.node('Reshape', [summed, g.int64s(axisIn < 0 ? p.shape : [0, ...p.shape.slice(1)])]), axisIn < 0 ? -1 : axisIn - lead];
  },
});

/**
 * Sums `x` down to `shape`, the adjoint of broadcasting: `shape` must broadcast to `x.shape`
 * (leading dims are summed away, dims of size 1 are summed with keepdim). Returns `x` itself when
 * the shapes already agree. Used by every broadcasting op's backward.
 * @example sumTo(gy, [1, C, 1, 1])
 */
export function sumTo(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor('sumTo', x);
  if (sameShape(x.shape, shape)) return x;
  const lead = x.ndim - shape.length;
  const ok = lead >= 0 && shape.every((s, i) => s === x.shape[i + lead] || s === 1);
  if (!ok) throw new Error(`sumTo: shape ${fmt(shape)} does not broadcast to ${fmt(x.shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < x.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && x.shape[i] !== 1)) axes.push(i);
  }
  if (axes.length === 0) return reshapeOp(x, shape);
  return sumToOp(x, shape, axes);
}

declare module '../tensor/tensor.js' {
  interface Tensor {
    /** `x.reshape([N, -1])` or `x.reshape(N, -1)`. */
    reshape(...shape: (number | readonly number[])[]): Tensor;
    view(...shape: (number | readonly number[])[]): Tensor;
    flatten(startDim?: number, endDim?: number): Tensor;
    /** `x.permute(0, 2, 3, 1)` or `x.permute([0, 2, 3, 1])`. */
    permute(...dims: (number | readonly number[])[]): Tensor;
    transpose(dim0: number, dim1: number): Tensor;
    squeeze(dim?: number | readonly number[]): Tensor;
    unsqueeze(dim: number): Tensor;
    /** `x.expand(4, -1)` or `x.expand([4, -1])`. */
    expand(...sizes: (number | readonly number[])[]): Tensor;
    broadcastTo(shape: readonly number[]): Tensor;
    sumTo(shape: readonly number[]): Tensor;
    slice(dim: number, start?: number, end?: number): Tensor;
    narrow(dim: number, start: number, length: number): Tensor;
    indexSelect(dim: number, index: Tensor): Tensor;
    /** Shares data, leaves the autograd graph. */
    detach(): Tensor;
    clone(): Tensor;
  }
}

type Sizes = (number | readonly number[])[];

installMethods({
  reshape(...shape: Sizes) {
    return reshape(this, dimsArg(shape));
  },
  view(...shape: Sizes) {
    return view(this, dimsArg(shape));
  },
  flatten(startDim?: number, endDim?: number) {
    return flatten(this, startDim, endDim);
  },
  permute(...dims: Sizes) {
    return permute(this, dimsArg(dims));
  },
  transpose(d0: number, d1: number) {
    return transpose(this, d0, d1);
  },
  squeeze(dim?: number | readonly number[]) {
    return squeeze(this, dim);
  },
  unsqueeze(dim: number) {
    return unsqueeze(this, dim);
  },
  expand(...sizes: Sizes) {
    return expand(this, dimsArg(sizes));
  },
  broadcastTo(shape: readonly number[]) {
    return broadcastTo(this, shape);
  },
  sumTo(shape: readonly number[]) {
    return sumTo(this, shape);
  },
  slice(dim: number, start?: number, end?: number) {
    return slice(this, dim, start, end);
  },
  narrow(dim: number, start: number, length: number) {
    return narrow(this, dim, start, length);
  },
  indexSelect(dim: number, index: Tensor) {
    return indexSelect(this, dim, index);
  },
  detach() {
    return detach(this);
  },
  clone() {
    return clone(this);
  },
});
