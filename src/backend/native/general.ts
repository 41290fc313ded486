/**
 * The general (non-nn) kernels of the native backend: memory, elementwise, reductions, layout,
 * linear algebra and softmax, each adapted to one addon call. Storages may hold oneDNN blocked
 * layouts; the addon interprets them logically (see native/src/elementwise.cc for which kernels
 * keep a blocked layout).
 *
 * Addon functions used (handles are opaque Buf handles, shapes are number arrays; the addon only
 * reads them, so the callers' readonly arrays are passed as they are, without copies):
 * - fromHost(data, shape, dtype), toHost(h), full(shape, dtype, value), dispose(h), memoryInUse()
 * - unary(op, x), binary(op, a, aShape, b, bShape, outShape), scalar(op, x, s, reverse),
 *   clamp(x, lo, hi), reluBackward(dy, y), cast(x, to), axpy(a, b, alpha); `op` is an integer code,
 *   the op's index in the addon's own name list (`opNames()`, the enum order of
 *   native/src/elementwise.cc); the addon also accepts the op's name
 * - reduce(op, x, shape, axes) (op: its index in `opNames().reduce`, or the name),
 *   argmax(x, shape, axis)
 * - opNames() -> { unary, binary, reduce }: the op names in code order (read once, at load)
 * - reshape(x, newShape), permute(x, shape, perm), slice(x, shape, starts, outShape),
 *   pad(dy, shape, starts, fullShape), cat(xs, shapes, axis), indexSelect(x, shape, axis, idx, n),
 *   indexAdd(dy, dyShape, axis, idx, outShape), gatherRows(x, shape, target),
 *   scatterRows(dy, shape, target)
 * - matmul(a, aShape, b, bShape, transA, transB), linear(x, xShape, w, wShape, b | null),
 *   linearBackward(dy, x, xShape, w, wShape, hasBias, needDx) -> { dx | null, dw, db | null }
 * - softmax(x, shape, axis, log), softmaxBackward(dy, y, shape, axis, log)
 * - sgdStep / adamStep: the fused optimizer updates, adapted in ./optim.ts
 */
import type { HostArray, Kernels, Storage } from '../kernels.js';
import { hd, ns, type Handle, type NativeAddon, type NativeStorage } from './addon.js';
import { optimKernels } from './optim.js';

/** The kernels implemented by this file. */
export type GeneralKernels = Pick<
  Kernels,
  | 'name'
  | 'fromHost'
  | 'toHost'
  | 'read'
  | 'full'
  | 'dispose'
  | 'memoryInUse'
  | 'unary'
  | 'binary'
  | 'scalar'
  | 'clamp'
  | 'reluBackward'
  | 'sigmoidBackward'
  | 'tanhBackward'
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
  | 'sgdStep'
  | 'adamStep'
>;

/** The addon's op names, each list in the order of its integer op codes. */
export interface NativeOpNames {
  unary: string[];
  binary: string[];
  reduce: string[];
}

/**
 * The op name lists of the addon (`opNames()`): the single source of the integer op codes, so no
 * table is kept by hand on this side. A test checks they equal UNARY_OPS / BINARY_OPS / REDUCE_OPS.
 */
export function nativeOpNames(a: NativeAddon): NativeOpNames {
  if (typeof a.opNames !== 'function') throw new Error('native addon: opNames() is missing (rebuild it: npm run build:native)');
  const r = a.opNames() as NativeOpNames;
  return { unary: [...r.unary], binary: [...r.binary], reduce: [...r.reduce] };
}

/** name -> code from a list in code order. */
function codeTable(names: readonly string[]): ReadonlyMap<string, number> {
  return new Map(names.map((n, i) => [n, i]));
}

/** An op's code; names the addon does not know go through as strings so the addon reports them. */
function code(table: ReadonlyMap<string, number>, op: string): number | string {
  return table.get(op) ?? op;
}

/**
 * The general kernels of the native backend over the loaded addon `a`.
 * @example const k = generalKernels(addon); const s = k.fromHost(new Float32Array([1, 2]), [2], 'float32');
 */
export function generalKernels(a: NativeAddon): GeneralKernels {
  const names = nativeOpNames(a);
  const UNARY_CODE = codeTable(names.unary);
  const BINARY_CODE = codeTable(names.binary);
  const REDUCE_CODE = codeTable(names.reduce);
  const opt = (h: unknown): NativeStorage | null => (h === null || h === undefined ? null : ns(h));
  const hdOpt = (s: Storage | null): Handle | null => (s === null ? null : hd(s));
  return {
    name: 'native',

    // ---- memory -------------------------------------------------------------------------
    fromHost: (data, shape, dtype) => ns(a.fromHost(data, shape, dtype)),
    toHost: (s) => a.toHost(hd(s)) as HostArray,
    read: async (s) => a.toHost(hd(s)) as HostArray,
    full: (shape, dtype, value) => ns(a.full(shape, dtype, value)),
    dispose: (s) => {
      a.dispose(hd(s));
    },
    memoryInUse: () => a.memoryInUse() as number,

    // ---- elementwise --------------------------------------------------------------------
    unary: (op, x) => ns(a.unary(code(UNARY_CODE, op), hd(x))),
    binary: (op, x, xShape, y, yShape, outShape) =>
      ns(a.binary(code(BINARY_CODE, op), hd(x), xShape, hd(y), yShape, outShape)),
    scalar: (op, x, _shape, s, reverse) => ns(a.scalar(code(BINARY_CODE, op), hd(x), s, reverse)),
    clamp: (x, _shape, lo, hi) => ns(a.clamp(hd(x), lo, hi)),
    reluBackward: (dy, y) => ns(a.reluBackward(hd(dy), hd(y))),
    sigmoidBackward: (dy, y) => ns(a.activationBackward(hd(dy), hd(y), false)),
    tanhBackward: (dy, y) => ns(a.activationBackward(hd(dy), hd(y), true)),
    cast: (x, _shape, to) => ns(a.cast(hd(x), to)),
    axpy: (x, y, _shape, alpha) => ns(a.axpy(hd(x), hd(y), alpha)),

    // ---- reductions ---------------------------------------------------------------------
    reduce: (op, x, shape, axes) => ns(a.reduce(code(REDUCE_CODE, op), hd(x), shape, axes)),
    argmax: (x, shape, axis) => ns(a.argmax(hd(x), shape, axis)),

    // ---- layout -------------------------------------------------------------------------
    reshape: (x, _shape, newShape) => ns(a.reshape(hd(x), newShape)),
    permute: (x, shape, perm) => ns(a.permute(hd(x), shape, perm)),
    slice: (x, shape, starts, outShape) => ns(a.slice(hd(x), shape, starts, outShape)),
    pad: (dy, shape, starts, fullShape) => ns(a.pad(hd(dy), shape, starts, fullShape)),
    cat: (xs, shapes, axis) =>
      ns(
        a.cat(
          xs.map((x) => hd(x)),
          shapes,
          axis,
        ),
      ),
    indexSelect: (x, shape, axis, idx, n) => ns(a.indexSelect(hd(x), shape, axis, hd(idx), n)),
    indexAdd: (dy, dyShape, axis, idx, outShape) =>
      ns(a.indexAdd(hd(dy), dyShape, axis, hd(idx), outShape)),
    gatherRows: (x, shape, target) => ns(a.gatherRows(hd(x), shape, hd(target))),
    scatterRows: (dy, shape, target) => ns(a.scatterRows(hd(dy), shape, hd(target))),

    // ---- linear algebra -----------------------------------------------------------------
    matmul: (x, xShape, y, yShape, transA, transB) =>
      ns(a.matmul(hd(x), xShape, hd(y), yShape, transA, transB)),
    linear: (x, xShape, w, wShape, b) => ns(a.linear(hd(x), xShape, hd(w), wShape, hdOpt(b))),
    linearBackward: (dy, x, xShape, w, wShape, hasBias, needDx) => {
      const r = a.linearBackward(hd(dy), hd(x), xShape, hd(w), wShape, hasBias, needDx) as {
        dx: unknown;
        dw: unknown;
        db: unknown;
      };
      return { dx: opt(r.dx), dw: ns(r.dw), db: opt(r.db) };
    },

    // ---- softmax ------------------------------------------------------------------------
    softmax: (x, shape, axis, log) => ns(a.softmax(hd(x), shape, axis, log)),
    softmaxBackward: (dy, y, shape, axis, log) => ns(a.softmaxBackward(hd(dy), hd(y), shape, axis, log)),

    // ---- fused optimizer updates (native/src/optim.cc) ----------------------------------
    ...optimKernels(a),
  };
}
