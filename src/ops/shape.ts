/**
 * Shape and layout ops: reshape/view, flatten, squeeze/unsqueeze, permute/transpose, cat/stack,
 * slice/narrow, indexSelect, expand/broadcastTo (and its adjoint sumTo), detach, clone.
 * All of them keep the dtype (float32 or int32); gradients flow only through float32 tensors.
 */
import type { Shape, Storage } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt, normAxis, numel, sameShape } from '../tensor/shape.js';
import { keepdimShape, record, reshapeOwned, sameBackend, wrap, checkInt, describe, withFloat } from './util.js';
import { traceOp, tracing } from './trace.js';

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

/** Same data in a new shape (no copy where the backend allows); internal, with a given op name. */
function reshapeAs(op: string, x: Tensor, shape: Shape): Tensor {
  const k = x.kernels;
  const out = wrap(k, k.reshape(x.storage, x.shape, shape, x.dtype), shape, x.dtype);
  if (tracing.tracer !== null) traceOp(op, [x], out, { shape });
  return record(op, [x], out, (gy) => [reshapeAs(op, gy, x.shape)]);
}

/**
 * The same data in a new shape with the same number of elements; one dimension may be -1 (inferred).
 * Shares memory with `x` where the backend allows.
 * @example reshape(x, [x.shape[0]!, -1])
 */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  sameBackend('reshape', x);
  return reshapeAs('reshape', x, resolveShape('reshape', x.shape, shape));
}

/** Alias of `reshape` (PyTorch's `view`; memory layout is the backend's concern here). */
export function view(x: Tensor, shape: readonly number[]): Tensor {
  sameBackend('view', x);
  return reshapeAs('view', x, resolveShape('view', x.shape, shape));
}

/**
 * Flattens dims `startDim..endDim` into one (as `torch.flatten`: defaults 0 and -1, so everything).
 * @example flatten(x, 1) // [N, C, H, W] -> [N, C*H*W]
 */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  sameBackend('flatten', x);
  if (x.ndim === 0) return reshapeAs('flatten', x, [1]);
  const s = normAxis(startDim, x.ndim, 'flatten');
  const e = normAxis(endDim, x.ndim, 'flatten');
  if (s > e) throw new Error(`flatten: startDim ${startDim} comes after endDim ${endDim} for a tensor of shape ${fmt(x.shape)}`);
  const shape = [...x.shape.slice(0, s), numel(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)];
  return reshapeAs('flatten', x, shape);
}

/** Removes size-1 dims: all of them, or only `dim` (a number or a list) when it has size 1. */
export function squeeze(x: Tensor, dim?: number | readonly number[]): Tensor {
  sameBackend('squeeze', x);
  let drop: number[];
  if (dim === undefined) drop = x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
  else {
    const ds = typeof dim === 'number' ? [dim] : [...dim];
    drop = x.ndim === 0 ? [] : ds.map((d) => normAxis(d, x.ndim, 'squeeze')).filter((d) => x.shape[d] === 1);
  }
  return reshapeAs('squeeze', x, x.shape.filter((_, i) => !drop.includes(i)));
}

/** Inserts a size-1 dim at `dim` (in [-ndim-1, ndim]). @example unsqueeze(b, 0) // [C] -> [1, C] */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  sameBackend('unsqueeze', x);
  const d = insertAxis('unsqueeze', dim, x.ndim);
  const shape = [...x.shape];
  shape.splice(d, 0, 1);
  return reshapeAs('unsqueeze', x, shape);
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
  sameBackend('detach', x);
  const k = x.kernels;
  return wrap(k, k.reshape(x.storage, x.shape, x.shape, x.dtype), x.shape, x.dtype);
}

/** A copy of `x` in fresh memory (gradient passes through). */
export function clone(x: Tensor): Tensor {
  const k = sameBackend('clone', x);
  const zeros = x.shape.map(() => 0);
  const out = wrap(k, k.slice(x.storage, x.shape, zeros, x.shape, x.dtype), x.shape, x.dtype);
  if (tracing.tracer !== null) traceOp('clone', [x], out);
  return record('clone', [x], out, (gy) => [gy]);
}

// ---- permute -------------------------------------------------------------------------------

/**
 * Reorders the dims: output dim i is input dim `dims[i]` (negative dims allowed).
 * @example permute(x, [0, 2, 3, 1]) // NCHW -> NHWC
 */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  const k = sameBackend('permute', x);
  if (dims.length !== x.ndim) {
    throw new Error(`permute: got ${dims.length} dims ${fmt(dims)} for a tensor of shape ${fmt(x.shape)}`);
  }
  const perm = dims.map((d) => normAxis(d, x.ndim, 'permute'));
  if (new Set(perm).size !== perm.length) throw new Error(`permute: dims ${fmt(dims)} repeat a dim (shape ${fmt(x.shape)})`);
  return permuteRaw(k, x, perm);
}

function permuteRaw(k: Tensor['kernels'], x: Tensor, perm: readonly number[]): Tensor {
  const shape = perm.map((p) => x.shape[p]!);
  const identity = perm.every((p, i) => p === i);
  const s = identity ? k.reshape(x.storage, x.shape, shape, x.dtype) : k.permute(x.storage, x.shape, perm, x.dtype);
  const out = wrap(k, s, shape, x.dtype);
  if (tracing.tracer !== null) traceOp('permute', [x], out, { perm });
  return record('permute', [x], out, (gy) => {
    const inv = new Array<number>(perm.length);
    perm.forEach((p, i) => (inv[p] = i));
    return [permuteRaw(gy.kernels, gy, inv)];
  });
}

/** Swaps two dims. @example transpose(x, -1, -2) */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const k = sameBackend('transpose', x);
  if (x.ndim === 0) return permuteRaw(k, x, []);
  const a = normAxis(dim0, x.ndim, 'transpose');
  const b = normAxis(dim1, x.ndim, 'transpose');
  const perm = x.shape.map((_, i) => i);
  perm[a] = b;
  perm[b] = a;
  return permuteRaw(k, x, perm);
}

// ---- cat / stack -----------------------------------------------------------------------------

function checkList(op: string, xs: readonly Tensor[]): void {
  if (!Array.isArray(xs) || xs.length === 0) throw new Error(`${op}: expected a non-empty array of tensors`);
  xs.forEach((x, i) => {
    if (!(x instanceof Tensor)) throw new Error(`${op}: entry ${i} is not a tensor (got ${describe(x)})`);
  });
  sameBackend(op, ...xs);
  const dt = xs[0]!.dtype;
  xs.forEach((x, i) => {
    if (x.dtype !== dt) throw new Error(`${op}: entry ${i} is ${x.dtype} but entry 0 is ${dt}`);
  });
}

/**
 * Concatenates tensors along `dim` (all other dims must match).
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
      throw new Error(
        `cat: tensors must have the same shape except in dim ${d}, got ${fmt(x0.shape)} (entry 0) and ${fmt(x.shape)} (entry ${i})`,
      );
    }
  });
  return catRaw('cat', xs, d);
}

function catRaw(op: string, xs: readonly Tensor[], d: number): Tensor {
  const k = xs[0]!.kernels;
  const shapes = xs.map((x) => x.shape);
  const shape = [...shapes[0]!];
  shape[d] = shapes.reduce((s, sh) => s + sh[d]!, 0);
  const out = wrap(k, k.cat(xs.map((x) => x.storage), shapes, d, xs[0]!.dtype), shape, xs[0]!.dtype);
  if (tracing.tracer !== null) traceOp(op, xs, out, { axis: d });
  return record(op, xs, out, (gy, needs) => {
    let off = 0;
    return xs.map((x, i) => {
      const start = off;
      off += x.shape[d]!;
      if (!needs[i]) return null;
      const starts = shape.map((_, j) => (j === d ? start : 0));
      return wrap(gy.kernels, gy.kernels.slice(gy.storage, gy.shape, starts, x.shape, gy.dtype), x.shape);
    });
  });
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
  const k = x0.kernels;
  const one = [...x0.shape];
  one.splice(d, 0, 1);
  const parts: Storage[] = xs.map((x) => k.reshape(x.storage, x.shape, one, x.dtype));
  const shape = [...one];
  shape[d] = xs.length;
  let s: Storage;
  try {
    s = k.cat(parts, xs.map(() => one), d, x0.dtype);
  } finally {
    for (const p of parts) k.dispose(p);
  }
  const out = wrap(k, s, shape, x0.dtype);
  return record('stack', xs, out, (gy, needs) =>
    xs.map((x, i) => {
      if (!needs[i]) return null;
      const starts = shape.map((_, j) => (j === d ? i : 0));
      const gk = gy.kernels;
      const sl = gk.slice(gy.storage, gy.shape, starts, one, gy.dtype);
      return wrap(gk, reshapeOwned(gk, sl, one, x.shape, 'float32'), x.shape);
    }),
  );
}

// ---- slicing and indexing -----------------------------------------------------------------------

/** Sub-block `starts .. starts + shape` of `x` (the common core of slice and narrow). */
function sliceRaw(op: string, x: Tensor, starts: readonly number[], shape: Shape): Tensor {
  const k = x.kernels;
  const out = wrap(k, k.slice(x.storage, x.shape, starts, shape, x.dtype), shape, x.dtype);
  return record(op, [x], out, (gy) => [
    wrap(gy.kernels, gy.kernels.pad(gy.storage, gy.shape, starts, x.shape, 'float32'), x.shape),
  ]);
}

/**
 * Elements `start` (inclusive) to `end` (exclusive) along `dim`, with Python slice rules: negative
 * positions count from the end and out-of-range bounds are clamped.
 * @example slice(x, 1, 0, 2) // x[:, 0:2]
 */
export function slice(x: Tensor, dim: number, start = 0, end?: number): Tensor {
  sameBackend('slice', x);
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
  const starts = x.shape.map((_, j) => (j === d ? s : 0));
  const shape = x.shape.map((n, j) => (j === d ? e - s : n));
  return sliceRaw('slice', x, starts, shape);
}

/**
 * `length` elements from `start` along `dim` (as `torch.narrow`: the range must lie inside the dim).
 * @example narrow(x, 0, 2, 3) // rows 2, 3, 4
 */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  sameBackend('narrow', x);
  if (x.ndim === 0) throw new Error('narrow: cannot narrow a zero-dimensional tensor');
  const d = normAxis(dim, x.ndim, 'narrow');
  const len = x.shape[d]!;
  const s = start < 0 ? start + len : start;
  checkInt('narrow', 'length', length, 0);
  if (!Number.isInteger(s) || s < 0 || s + length > len) {
    throw new Error(`narrow: start ${start} + length ${length} exceeds dim ${d} of size ${len} (shape ${fmt(x.shape)})`);
  }
  return sliceRaw(
    'narrow',
    x,
    x.shape.map((_, j) => (j === d ? s : 0)),
    x.shape.map((n, j) => (j === d ? length : n)),
  );
}

/**
 * Selects entries `index` (an int32 1-D tensor) along `dim`; repeated indices repeat entries.
 * @example indexSelect(x, 0, tensor([2, 0], { dtype: 'int32' }))
 */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  const k = sameBackend('indexSelect', x, index);
  if (index.dtype !== 'int32') throw new Error(`indexSelect: index must be int32, got ${index.dtype} of shape ${fmt(index.shape)}`);
  if (index.ndim > 1) throw new Error(`indexSelect: index must be 1-D, got shape ${fmt(index.shape)}`);
  if (x.ndim === 0) throw new Error('indexSelect: cannot index a zero-dimensional tensor');
  const d = normAxis(dim, x.ndim, 'indexSelect');
  const n = index.size;
  const shape = x.shape.map((s, j) => (j === d ? n : s));
  let s: Storage;
  try {
    s = k.indexSelect(x.storage, x.shape, d, index.storage, n, x.dtype);
  } catch (e) {
    throw new Error(`indexSelect: ${(e as Error).message} (input ${fmt(x.shape)}, dim ${d})`, { cause: e });
  }
  const out = wrap(k, s, shape, x.dtype);
  return record('indexSelect', [x], out, (gy) => [
    wrap(gy.kernels, gy.kernels.indexAdd(gy.storage, gy.shape, d, index.storage, x.shape), x.shape),
  ]);
}

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

/** Materializes `x` broadcast to `shape` (already validated). */
function expandRaw(op: string, x: Tensor, shape: Shape): Tensor {
  const k = x.kernels;
  if (sameShape(x.shape, shape)) {
    const out = wrap(k, k.reshape(x.storage, x.shape, shape, x.dtype), shape, x.dtype);
    return record(op, [x], out, (gy) => [gy]);
  }
  let s: Storage;
  if (x.dtype === 'float32') {
    // x + zeros(shape): the kernel broadcasts x onto the full-size operand.
    const zeros = k.full(shape, 'float32', 0);
    try {
      s = k.binary('add', x.storage, x.shape, zeros, shape, shape);
    } finally {
      k.dispose(zeros);
    }
  } else {
    // int32: repeat index 0 along every broadcast axis (exact, keeps the dtype).
    const lead = shape.length - x.ndim;
    let cur: number[] = [...new Array<number>(lead).fill(1), ...x.shape];
    s = k.reshape(x.storage, x.shape, cur, x.dtype);
    for (let d = 0; d < shape.length; d++) {
      if (cur[d] === shape[d]) continue;
      const n = shape[d]!;
      const idx = k.full([n], 'int32', 0);
      const next = k.indexSelect(s, cur, d, idx, n, x.dtype);
      k.dispose(idx);
      k.dispose(s);
      s = next;
      cur = cur.map((c, j) => (j === d ? n : c));
    }
  }
  const out = wrap(k, s, shape, x.dtype);
  return record(op, [x], out, (gy) => [sumTo(gy, x.shape)]);
}

/**
 * `x` repeated along size-1 dims (and new leading dims) to `sizes`; -1 keeps a dim. The result is
 * a materialized copy (gradient: `sumTo` back to `x`'s shape).
 * @example expand(tensor([[1], [2]]), [2, 3]) // [[1, 1, 1], [2, 2, 2]]
 */
export function expand(x: Tensor, sizes: readonly number[]): Tensor {
  sameBackend('expand', x);
  return expandRaw('expand', x, expandShape('expand', x, sizes));
}

/** `x` broadcast to `shape` by NumPy rules (`torch.broadcast_to`). */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  sameBackend('broadcastTo', x);
  return expandRaw('broadcastTo', x, expandShape('broadcastTo', x, shape));
}

/**
 * Sums `x` down to `shape`, the adjoint of broadcasting: `shape` must broadcast to `x.shape`
 * (leading dims are summed away, dims of size 1 are summed with keepdim). Returns `x` itself when
 * the shapes already agree. Used by every broadcasting op's backward.
 * @example sumTo(gy, [1, C, 1, 1])
 */
export function sumTo(x: Tensor, shape: readonly number[]): Tensor {
  const k = sameBackend('sumTo', x);
  if (sameShape(x.shape, shape)) return x;
  const lead = x.ndim - shape.length;
  const ok = lead >= 0 && shape.every((s, i) => s === x.shape[i + lead] || s === 1);
  if (!ok) throw new Error(`sumTo: shape ${fmt(shape)} does not broadcast to ${fmt(x.shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < x.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && x.shape[i] !== 1)) axes.push(i);
  }
  const kd = keepdimShape(x.shape, axes);
  const s =
    axes.length === 0
      ? k.reshape(x.storage, x.shape, shape, x.dtype)
      : reshapeOwned(k, withFloat(x, (xs) => k.reduce('sum', xs, x.shape, axes)), kd, shape, 'float32');
  const out = wrap(k, s, shape, axes.length === 0 ? x.dtype : 'float32');
  return record('sumTo', [x], out, (gy) => [expandRaw('sumTo', gy, x.shape)]);
}
