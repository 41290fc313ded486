/**
 * Layout kernels (any rank, any dtype of this backend): reshape, permute, slice, pad, cat, and the index
 * kernels. Everything except reshape copies; reshape shares the data (see storage.ts).
 */
import type { Shape, Storage } from '../kernels.js';
import { alloc, allocFloat, fl, i32, ref, wrap, wrapAcc } from './storage.js';
import { copyStrided, fmt, numel, splitAxis, stridesOf } from './util.js';

/** The data of a storage (any dtype). */
function data(x: Storage): Float32Array | Float64Array | Int32Array {
  return ref(x).data as Float32Array | Float64Array | Int32Array;
}

/** Same data, new shape: a second storage sharing the buffer (no copy). */
export function reshape(x: Storage, shape: Shape, newShape: Shape): Storage {
  const r = ref(x);
  if (numel(shape) !== numel(newShape)) {
    throw new Error(`reference backend: reshape ${fmt(shape)} -> ${fmt(newShape)} changes the size`);
  }
  return r.share();
}

/** out has shape[perm[d]] at axis d, and out[i] = x[j] with j[perm[d]] = i[d]. */
export function permute(x: Storage, shape: Shape, perm: readonly number[]): Storage {
  const xd = data(x);
  const dtype = x.dtype;
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = stridesOf(shape);
  // Walking the output row-major, output axis d advances input axis perm[d].
  const srcStrides = perm.map((p) => inStrides[p]!);
  const out = alloc(dtype, numel(outShape));
  copyStrided(xd, 0, srcStrides, out, 0, stridesOf(outShape), outShape);
  return wrap(out);
}

/** out = x[starts[d] : starts[d] + outShape[d]] along every axis. */
export function slice(x: Storage, shape: Shape, starts: readonly number[], outShape: Shape): Storage {
  const xd = data(x);
  const dtype = x.dtype;
  const inStrides = stridesOf(shape);
  let off = 0;
  for (let d = 0; d < shape.length; d++) off += starts[d]! * inStrides[d]!;
  const out = alloc(dtype, numel(outShape));
  copyStrided(xd, off, inStrides, out, 0, stridesOf(outShape), outShape);
  return wrap(out);
}

/** Zeros of `fullShape` with `dy` (of `shape`) written at `starts` (the gradient of slice). */
export function pad(dy: Storage, shape: Shape, starts: readonly number[], fullShape: Shape): Storage {
  const g = data(dy);
  const dtype = dy.dtype;
  const fullStrides = stridesOf(fullShape);
  let off = 0;
  for (let d = 0; d < fullShape.length; d++) off += starts[d]! * fullStrides[d]!;
  const out = alloc(dtype, numel(fullShape));
  copyStrided(g, 0, stridesOf(shape), out, off, fullStrides, shape);
  return wrap(out);
}

/** Concatenation along `axis`: each input fills its slab of the output in turn. */
export function cat(xs: readonly Storage[], shapes: readonly Shape[], axis: number): Storage {
  if (xs.length === 0) throw new Error('reference backend: cat of no tensors');
  const dtype = xs[0]!.dtype;
  const outShape = [...shapes[0]!];
  outShape[axis] = shapes.reduce((s, sh) => s + sh[axis]!, 0);
  const outStrides = stridesOf(outShape);
  const out = alloc(dtype, numel(outShape));
  let offset = 0;
  for (let k = 0; k < xs.length; k++) {
    const sh = shapes[k]!;
    copyStrided(data(xs[k]!), 0, stridesOf(sh), out, offset * outStrides[axis]!, outStrides, sh);
    offset += sh[axis]!;
  }
  return wrap(out);
}

/** Validates an index value against the axis length (an out-of-range index is a caller bug). */
function checkIndex(v: number, len: number, what: string): void {
  if (!(v >= 0 && v < len)) throw new Error(`reference backend: ${what} index ${v} is out of range [0, ${len})`);
}

/** out = x.indexSelect(axis, idx): output axis `axis` has length n, out[.., j, ..] = x[.., idx[j], ..]. */
export function indexSelect(x: Storage, shape: Shape, axis: number, idx: Storage, n: number): Storage {
  const xd = data(x);
  const dtype = x.dtype;
  const id = i32(idx);
  const { outer, len, inner } = splitAxis(shape, axis);
  const out = alloc(dtype, outer * n * inner);
  for (let j = 0; j < n; j++) checkIndex(id[j]!, len, 'indexSelect');
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < n; j++) {
      const src = (o * len + id[j]!) * inner;
      const dst = (o * n + j) * inner;
      for (let k = 0; k < inner; k++) out[dst + k] = xd[src + k]!;
    }
  }
  return wrap(out);
}

/** Zeros of `outShape` with dy's slices along `axis` added at idx (repeated indices accumulate). */
export function indexAdd(dy: Storage, dyShape: Shape, axis: number, idx: Storage, outShape: Shape): Storage {
  const g = fl(dy);
  const id = i32(idx);
  const { outer, len: n, inner } = splitAxis(dyShape, axis);
  const len = outShape[axis]!;
  for (let j = 0; j < n; j++) checkIndex(id[j]!, len, 'indexAdd');
  const acc = new Float64Array(numel(outShape));
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < n; j++) {
      const src = (o * n + j) * inner;
      const dst = (o * len + id[j]!) * inner;
      for (let k = 0; k < inner; k++) acc[dst + k] += g[src + k]!;
    }
  }
  return wrapAcc(acc, dy.dtype);
}

/** out[i] = x[i, target[i]] for x [N, C]. */
export function gatherRows(x: Storage, shape: Shape, target: Storage): Storage {
  const xd = fl(x);
  const t = i32(target);
  const [n, c] = [shape[0]!, shape[1]!];
  const out = allocFloat(x, n);
  for (let i = 0; i < n; i++) {
    checkIndex(t[i]!, c, 'gatherRows');
    out[i] = xd[i * c + t[i]!]!;
  }
  return wrap(out);
}

/** Zeros [N, C] with dy[i] at (i, target[i]) (the gradient of gatherRows). */
export function scatterRows(dy: Storage, shape: Shape, target: Storage): Storage {
  const g = fl(dy);
  const t = i32(target);
  const [n, c] = [shape[0]!, shape[1]!];
  const out = allocFloat(dy, n * c);
  for (let i = 0; i < n; i++) {
    checkIndex(t[i]!, c, 'scatterRows');
    out[i * c + t[i]!] = g[i]!;
  }
  return wrap(out);
}
