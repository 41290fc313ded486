/**
 * TEMPORARY (until Engine II lands): the current reference backend (old contract, src/backend/
 * kernels.ts) seen through the Engine II contract (src/backend/webgpu/contract.ts), so the webgpu
 * backend can be checked against it with the same case table the lead's conformance suite will run.
 *
 * What the adapter adds to the old reference, each as PyTorch defines it:
 * - `dtype` on every storage, `read` (async) beside `toHost`, dtype-less layout kernels and `cast`;
 * - int32 results for int32 `binary`/`scalar` (the old reference computes them in float32: exact for
 *   the small integers the cases use) ;
 * - `unary('hardswish')`, `sgdStep` and `adamStep` computed on the host in double precision and
 *   rounded once to float32 (the old reference has no such kernels).
 * When Engine II's reference implements the new contract itself, delete this file and pass the
 * reference backend to the conformance runner directly.
 */
import type * as Old from '../../src/backend/kernels.js';
import { referenceKernels } from '../../src/backend/reference/index.js';
import type { AdamHyper, DType, HostArray, KernelDTypes, Kernels, SgdHyper, Shape, Storage } from '../../src/backend/webgpu/contract.js';

/** A reference storage plus the dtype the new contract wants on it. */
class V2Storage implements Storage {
  readonly backend = 'reference';
  constructor(
    readonly inner: Old.Storage,
    readonly dtype: DType,
  ) {}
}

const old = referenceKernels;

function un(s: Storage): Old.Storage {
  if (!(s instanceof V2Storage)) throw new Error(`reference (v2 adapter): got a storage of backend '${s?.backend}'`);
  return s.inner;
}

function oldDType(d: DType): Old.DType {
  if (d !== 'float32' && d !== 'int32') throw new Error(`reference (v2 adapter): dtype ${d} is not supported by the current reference backend`);
  return d;
}

const f = (s: Old.Storage): V2Storage => new V2Storage(s, 'float32');
const fOrNull = (s: Old.Storage | null): V2Storage | null => (s === null ? null : f(s));

function numel(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The float32 array of a storage, for in-place host updates. */
function hostF32(s: Storage, shape: Shape): Float32Array {
  // toHost returns a copy; the in-place kernels below write the copy back with fromHost semantics.
  return old.toHost(un(s), shape, 'float32') as Float32Array;
}

/** Replaces the data of `s` (in place, as the fused optimizer kernels must). */
function overwrite(s: Storage, shape: Shape, data: Float32Array): void {
  const v = s as V2Storage;
  const fresh = old.fromHost(data, shape, 'float32');
  old.dispose(v.inner);
  (v as { inner: Old.Storage }).inner = fresh;
}

const ALL: readonly DType[] = ['float32', 'int32'];
const FL: readonly DType[] = ['float32'];

const dtypes: KernelDTypes = {
  fromHost: ALL,
  toHost: ALL,
  read: ALL,
  full: ALL,
  dispose: ALL,
  memoryInUse: ALL,
  unary: FL,
  binary: ALL,
  scalar: ALL,
  clamp: FL,
  reluBackward: FL,
  sigmoidBackward: FL,
  tanhBackward: FL,
  cast: ALL,
  axpy: FL,
  reduce: FL,
  argmax: ALL,
  reshape: ALL,
  permute: ALL,
  slice: ALL,
  pad: ALL,
  cat: ALL,
  indexSelect: ALL,
  indexAdd: FL,
  gatherRows: FL,
  scatterRows: FL,
  matmul: FL,
  linear: FL,
  linearBackward: FL,
  conv2d: FL,
  conv2dBackwardData: FL,
  conv2dBackwardWeights: FL,
  maxPool2d: FL,
  maxPool2dBackward: FL,
  avgPool2d: FL,
  avgPool2dBackward: FL,
  adaptiveAvgPool2d: FL,
  adaptiveAvgPool2dBackward: FL,
  batchNormTrain: FL,
  batchNormInference: FL,
  batchNormBackward: FL,
  softmax: FL,
  softmaxBackward: FL,
  resizeBilinear: FL,
  resizeBilinearBackward: FL,
  sgdStep: FL,
  adamStep: FL,
};

/** int32 result of an elementwise op the old reference computed in float32. */
function toInt(s: Old.Storage, shape: Shape): V2Storage {
  const r = old.cast(s, shape, 'float32', 'int32');
  old.dispose(s);
  return new V2Storage(r, 'int32');
}

/** The reference backend through the Engine II contract. */
export const referenceV2: Kernels = {
  name: 'reference',
  dtypes,
  fromHost: (data, shape, dtype) => new V2Storage(old.fromHost(data as Old.HostArray, shape, oldDType(dtype)), dtype),
  toHost: (s, shape) => old.toHost(un(s), shape, oldDType(s.dtype)) as HostArray,
  read: async (s, shape) => old.toHost(un(s), shape, oldDType(s.dtype)) as HostArray,
  full: (shape, dtype, value) => new V2Storage(old.full(shape, oldDType(dtype), value), dtype),
  dispose: (s) => old.dispose(un(s)),
  memoryInUse: () => old.memoryInUse(),

  unary(op, x, shape) {
    if (op !== 'hardswish') return f(old.unary(op, un(x), shape));
    const v = hostF32(x, shape);
    // PyTorch: x * min(max(x + 3, 0), 6) / 6
    const y = Float32Array.from(v, (t) => (Number.isNaN(t) ? NaN : (t * Math.min(Math.max(t + 3, 0), 6)) / 6));
    return f(old.fromHost(y, shape, 'float32'));
  },
  binary(op, a, aShape, b, bShape, outShape) {
    const r = old.binary(op, un(a), aShape, un(b), bShape, outShape);
    return a.dtype === 'int32' ? toInt(r, outShape) : f(r);
  },
  scalar(op, x, shape, s, reverse) {
    if (x.dtype === 'int32') return toInt(old.scalar(op, un(x), shape, Math.trunc(s), reverse), shape);
    return f(old.scalar(op, un(x), shape, s, reverse));
  },
  clamp: (x, shape, lo, hi) => f(old.clamp(un(x), shape, lo, hi)),
  reluBackward: (dy, y, shape) => f(old.reluBackward(un(dy), un(y), shape)),
  sigmoidBackward: (dy, y, shape) => f(old.sigmoidBackward(un(dy), un(y), shape)),
  tanhBackward: (dy, y, shape) => f(old.tanhBackward(un(dy), un(y), shape)),
  cast: (x, shape, to) => new V2Storage(old.cast(un(x), shape, oldDType(x.dtype), oldDType(to)), to),
  axpy: (a, b, shape, alpha) => f(old.axpy(un(a), un(b), shape, alpha)),

  reduce: (op, x, shape, axes) => f(old.reduce(op, un(x), shape, axes)),
  argmax: (x, shape, axis) => new V2Storage(old.argmax(un(x), shape, axis), 'int32'),

  reshape: (x, shape, newShape) => new V2Storage(old.reshape(un(x), shape, newShape, oldDType(x.dtype)), x.dtype),
  permute: (x, shape, perm) => new V2Storage(old.permute(un(x), shape, perm, oldDType(x.dtype)), x.dtype),
  slice: (x, shape, starts, outShape) => new V2Storage(old.slice(un(x), shape, starts, outShape, oldDType(x.dtype)), x.dtype),
  pad: (dy, shape, starts, fullShape) => new V2Storage(old.pad(un(dy), shape, starts, fullShape, oldDType(dy.dtype)), dy.dtype),
  cat: (xs, shapes, axis) => new V2Storage(old.cat(xs.map(un), shapes, axis, oldDType(xs[0]!.dtype)), xs[0]!.dtype),
  indexSelect: (x, shape, axis, idx, n) => new V2Storage(old.indexSelect(un(x), shape, axis, un(idx), n, oldDType(x.dtype)), x.dtype),
  indexAdd: (dy, dyShape, axis, idx, outShape) => f(old.indexAdd(un(dy), dyShape, axis, un(idx), outShape)),
  gatherRows: (x, shape, target) => f(old.gatherRows(un(x), shape, un(target))),
  scatterRows: (dy, shape, target) => f(old.scatterRows(un(dy), shape, un(target))),

  matmul: (a, aShape, b, bShape, tA, tB) => f(old.matmul(un(a), aShape, un(b), bShape, tA, tB)),
  linear: (x, xShape, w, wShape, b) => f(old.linear(un(x), xShape, un(w), wShape, b === null ? null : un(b))),
  linearBackward(dy, x, xShape, w, wShape, hasBias, needDx) {
    const r = old.linearBackward(un(dy), un(x), xShape, un(w), wShape, hasBias, needDx);
    return { dx: fOrNull(r.dx), dw: f(r.dw), db: fOrNull(r.db) };
  },
  conv2d: (x, xShape, w, wShape, b, p, yShape) => f(old.conv2d(un(x), xShape, un(w), wShape, b === null ? null : un(b), p, yShape)),
  conv2dBackwardData: (dy, dyShape, w, wShape, xShape, p) => f(old.conv2dBackwardData(un(dy), dyShape, un(w), wShape, xShape, p)),
  conv2dBackwardWeights(dy, dyShape, x, xShape, wShape, hasBias, p) {
    const r = old.conv2dBackwardWeights(un(dy), dyShape, un(x), xShape, wShape, hasBias, p);
    return { dw: f(r.dw), db: fOrNull(r.db) };
  },
  maxPool2d(x, shape, p) {
    const r = old.maxPool2d(un(x), shape, p);
    return { y: f(r.y), workspace: r.workspace === null ? null : new V2Storage(r.workspace, 'int32') };
  },
  maxPool2dBackward: (dy, x, y, ws, shape, p) => f(old.maxPool2dBackward(un(dy), un(x), un(y), ws === null ? null : un(ws), shape, p)),
  avgPool2d: (x, shape, p) => f(old.avgPool2d(un(x), shape, p)),
  avgPool2dBackward: (dy, shape, p) => f(old.avgPool2dBackward(un(dy), shape, p)),
  adaptiveAvgPool2d: (x, shape, out) => f(old.adaptiveAvgPool2d(un(x), shape, out)),
  adaptiveAvgPool2dBackward: (dy, shape, out) => f(old.adaptiveAvgPool2dBackward(un(dy), shape, out)),
  batchNormTrain(x, shape, gamma, beta, eps) {
    const r = old.batchNormTrain(un(x), shape, un(gamma), un(beta), eps);
    return { y: f(r.y), mean: f(r.mean), var: f(r.var) };
  },
  batchNormInference: (x, shape, g, b, m, v, eps) => f(old.batchNormInference(un(x), shape, un(g), un(b), un(m), un(v), eps)),
  batchNormBackward(dy, x, shape, g, m, v, eps) {
    const r = old.batchNormBackward(un(dy), un(x), shape, un(g), un(m), un(v), eps);
    return { dx: f(r.dx), dgamma: f(r.dgamma), dbeta: f(r.dbeta) };
  },
  softmax: (x, shape, axis, log) => f(old.softmax(un(x), shape, axis, log)),
  softmaxBackward: (dy, y, shape, axis, log) => f(old.softmaxBackward(un(dy), un(y), shape, axis, log)),
  resizeBilinear: (x, shape, out) => f(old.resizeBilinear(un(x), shape, out)),
  resizeBilinearBackward: (dy, shape, out) => f(old.resizeBilinearBackward(un(dy), shape, out)),

  sgdStep(params, grads, bufs, shapes, h: SgdHyper) {
    const out: Storage[] = [];
    params.forEach((p, k) => {
      const shape = shapes[k]!;
      const pv = hostF32(p, shape);
      const g = hostF32(grads[k]!, shape);
      const prev = bufs[k] ? hostF32(bufs[k]!, shape) : null;
      const buf = new Float32Array(numel(shape));
      for (let i = 0; i < pv.length; i++) {
        let d = h.maximize ? -g[i]! : g[i]!;
        d += h.weightDecay * pv[i]!;
        if (h.momentum !== 0) {
          const b = prev === null ? d : h.momentum * prev[i]! + (1 - h.dampening) * d;
          buf[i] = b;
          d = h.nesterov ? d + h.momentum * b : b;
        }
        pv[i] = pv[i]! - h.lr * d;
      }
      overwrite(p, shape, pv);
      if (h.momentum !== 0) {
        if (bufs[k]) {
          overwrite(bufs[k]!, shape, buf);
          out.push(bufs[k]!);
        } else out.push(f(old.fromHost(buf, shape, 'float32')));
      }
    });
    return out;
  },
  adamStep(params, grads, expAvg, expAvgSq, shapes, h: AdamHyper) {
    const bc1 = 1 - h.beta1 ** h.step;
    const bc2 = 1 - h.beta2 ** h.step;
    params.forEach((p, k) => {
      const shape = shapes[k]!;
      const pv = hostF32(p, shape);
      const g = hostF32(grads[k]!, shape);
      const m = hostF32(expAvg[k]!, shape);
      const v = hostF32(expAvgSq[k]!, shape);
      for (let i = 0; i < pv.length; i++) {
        let gi = h.maximize ? -g[i]! : g[i]!;
        let w = pv[i]!;
        if (h.decoupled) w *= 1 - h.lr * h.weightDecay;
        else gi += h.weightDecay * w;
        const mi = h.beta1 * m[i]! + (1 - h.beta1) * gi;
        const vi = h.beta2 * v[i]! + (1 - h.beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        pv[i] = w - ((h.lr / bc1) * mi) / (Math.sqrt(vi) / Math.sqrt(bc2) + h.eps);
      }
      overwrite(p, shape, pv);
      overwrite(expAvg[k]!, shape, m);
      overwrite(expAvgSq[k]!, shape, v);
    });
  },
};
