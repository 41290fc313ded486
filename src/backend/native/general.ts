/**
 * The general (non-nn) kernels of the native backend: memory, elementwise, reductions, layout,
 * linear algebra and softmax, each adapted to one addon call. Storages may hold oneDNN blocked
 * layouts; the addon interprets them logically (see native/src/elementwise.cc for which kernels
 * keep a blocked layout).
 *
 * Addon functions used (handles are opaque Buf handles, shapes are number arrays):
 * - fromHost(data, shape, dtype), toHost(h), full(shape, dtype, value), dispose(h), memoryInUse()
 * - unary(op, x), binary(op, a, aShape, b, bShape, outShape), scalar(op, x, s, reverse),
 *   clamp(x, lo, hi), reluBackward(dy, y), cast(x, to), axpy(a, b, alpha)
 * - reduce(op, x, shape, axes), argmax(x, shape, axis)
 * - reshape(x, newShape), permute(x, shape, perm), slice(x, shape, starts, outShape),
 *   pad(dy, shape, starts, fullShape), cat(xs, shapes, axis), indexSelect(x, shape, axis, idx, n),
 *   indexAdd(dy, dyShape, axis, idx, outShape), gatherRows(x, shape, target),
 *   scatterRows(dy, shape, target)
 * - matmul(a, aShape, b, bShape, transA, transB), linear(x, xShape, w, wShape, b | null),
 *   linearBackward(dy, x, xShape, w, wShape, hasBias, needDx) -> { dx | null, dw, db | null }
 * - softmax(x, shape, axis, log), softmaxBackward(dy, y, shape, axis, log)
 */
import type { HostArray, Kernels, Storage } from '../kernels.js';
import { hd, ns, type Handle, type NativeAddon, type NativeStorage } from './addon.js';

/** The kernels implemented by this file. */
export type GeneralKernels = Pick<
  Kernels,
  | 'name'
  | 'fromHost'
  | 'toHost'
  | 'full'
  | 'dispose'
  | 'memoryInUse'
  | 'unary'
  | 'binary'
  | 'scalar'
  | 'clamp'
  | 'reluBackward'
  | 'cast'
  | 'axpy'
  | 'reduce'
  | 'argmax'
  | 'reshape'
  | 'permute'
  | 'slice'
  | 'pad'
  | 'cat'
  | 'indexSelect'
  | 'indexAdd'
  | 'gatherRows'
  | 'scatterRows'
  | 'matmul'
  | 'linear'
  | 'linearBackward'
  | 'softmax'
  | 'softmaxBackward'
>;

/** Copies a readonly shape into a plain array for the addon. */
const arr = (s: readonly number[]): number[] => Array.from(s);

/**
 * The general kernels of the native backend over the loaded addon `a`.
 * @example const k = generalKernels(addon); const s = k.fromHost(new Float32Array([1, 2]), [2], 'float32');
 */
export function generalKernels(a: NativeAddon): GeneralKernels {
  const opt = (h: unknown): NativeStorage | null => (h === null || h === undefined ? null : ns(h));
  const hdOpt = (s: Storage | null): Handle | null => (s === null ? null : hd(s));
  return {
    name: 'native',

    // ---- memory -------------------------------------------------------------------------
    fromHost: (data, shape, dtype) => ns(a.fromHost(data, arr(shape), dtype)),
    toHost: (s) => a.toHost(hd(s)) as HostArray,
    full: (shape, dtype, value) => ns(a.full(arr(shape), dtype, value)),
    dispose: (s) => {
      a.dispose(hd(s));
    },
    memoryInUse: () => a.memoryInUse() as number,

    // ---- elementwise --------------------------------------------------------------------
    unary: (op, x) => ns(a.unary(op, hd(x))),
    binary: (op, x, xShape, y, yShape, outShape) =>
      ns(a.binary(op, hd(x), arr(xShape), hd(y), arr(yShape), arr(outShape))),
    scalar: (op, x, _shape, s, reverse) => ns(a.scalar(op, hd(x), s, reverse)),
    clamp: (x, _shape, lo, hi) => ns(a.clamp(hd(x), lo, hi)),
    reluBackward: (dy, y) => ns(a.reluBackward(hd(dy), hd(y))),
    cast: (x, _shape, _from, to) => ns(a.cast(hd(x), to)),
    axpy: (x, y, _shape, alpha) => ns(a.axpy(hd(x), hd(y), alpha)),

    // ---- reductions ---------------------------------------------------------------------
    reduce: (op, x, shape, axes) => ns(a.reduce(op, hd(x), arr(shape), arr(axes))),
    argmax: (x, shape, axis) => ns(a.argmax(hd(x), arr(shape), axis)),

    // ---- layout -------------------------------------------------------------------------
    reshape: (x, _shape, newShape) => ns(a.reshape(hd(x), arr(newShape))),
    permute: (x, shape, perm) => ns(a.permute(hd(x), arr(shape), arr(perm))),
    slice: (x, shape, starts, outShape) => ns(a.slice(hd(x), arr(shape), arr(starts), arr(outShape))),
    pad: (dy, shape, starts, fullShape) => ns(a.pad(hd(dy), arr(shape), arr(starts), arr(fullShape))),
    cat: (xs, shapes, axis) =>
      ns(
        a.cat(
          xs.map((x) => hd(x)),
          shapes.map(arr),
          axis,
        ),
      ),
    indexSelect: (x, shape, axis, idx, n) => ns(a.indexSelect(hd(x), arr(shape), axis, hd(idx), n)),
    indexAdd: (dy, dyShape, axis, idx, outShape) =>
      ns(a.indexAdd(hd(dy), arr(dyShape), axis, hd(idx), arr(outShape))),
    gatherRows: (x, shape, target) => ns(a.gatherRows(hd(x), arr(shape), hd(target))),
    scatterRows: (dy, shape, target) => ns(a.scatterRows(hd(dy), arr(shape), hd(target))),

    // ---- linear algebra -----------------------------------------------------------------
    matmul: (x, xShape, y, yShape, transA, transB) =>
      ns(a.matmul(hd(x), arr(xShape), hd(y), arr(yShape), transA, transB)),
    linear: (x, xShape, w, wShape, b) => ns(a.linear(hd(x), arr(xShape), hd(w), arr(wShape), hdOpt(b))),
    linearBackward: (dy, x, xShape, w, wShape, hasBias, needDx) => {
      const r = a.linearBackward(hd(dy), hd(x), arr(xShape), hd(w), arr(wShape), hasBias, needDx) as {
        dx: unknown;
        dw: unknown;
        db: unknown;
      };
      return { dx: opt(r.dx), dw: ns(r.dw), db: opt(r.db) };
    },

    // ---- softmax ------------------------------------------------------------------------
    softmax: (x, shape, axis, log) => ns(a.softmax(hd(x), arr(shape), axis, log)),
    softmaxBackward: (dy, y, shape, axis, log) => ns(a.softmaxBackward(hd(dy), hd(y), arr(shape), axis, log)),
  };
}
