/**
 * The webgpu backend: every kernel of the contract in WGSL, on Dawn in Node (the optional npm
 * package `webgpu`) or on the browser's `navigator.gpu`. float32 everywhere, int32 where integers
 * make sense (layout kernels, comparisons and integer arithmetic, argmax, cast, fill); no float16
 * yet (the contract has no float16 dtype; `info.shaderF16` tells whether the adapter could).
 *
 * Creating it is asynchronous (adapter and device requests): `await initWebgpu()` once, after which
 * `webgpuKernels()` returns the backend synchronously (the backend selector builds on this; see
 * src/backend/index.ts `useBackend`). Read-back is asynchronous only (`read`): there is no `toHost`.
 *
 * Architecture (one concept per file): device.ts (adapter/device), buffer-pool.ts (caching
 * allocator), pipelines.ts (pipeline cache), commands.ts (command batching), runtime.ts (the three
 * together, read-back and GPU-side error reporting), wgsl.ts (shared WGSL), and one file per
 * kernel family.
 */
import type { DType, HostArray, KernelDTypes, Kernels, Shape, Storage } from '../kernels.js';
import { createDevice, type DeviceInfo } from './device.js';
import { Runtime } from './runtime.js';
import { GpuStorage, gpu } from './storage.js';
import { axpy, binary, cast, clamp, fill, reluBackward, scalar, sigmoidBackward, tanhBackward, unary } from './elementwise.js';
import { argmax, reduce } from './reduce.js';
import { cat, gatherRows, indexAdd, indexSelect, pad, permute, reshape, scatterRows, slice } from './layout.js';
import { linear, linearBackward, matmul } from './matmul.js';
import { conv2d, conv2dBackwardData, conv2dBackwardWeights } from './conv.js';
import { adaptiveAvgPool2d, adaptiveAvgPool2dBackward, avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward } from './pool.js';
import { batchNormBackward, batchNormInference, batchNormTrain } from './norm.js';
import { softmax, softmaxBackward } from './softmax.js';
import { resizeBilinear, resizeBilinearBackward } from './resize.js';
import { adamStep, sgdStep } from './optim.js';
import { numel } from './wgsl.js';

export { WebgpuUnavailableError } from './errors.js';
export type { DeviceInfo } from './device.js';
export { GpuStorage } from './storage.js';

const F: readonly DType[] = ['float32'];
const FI: readonly DType[] = ['float32', 'int32'];

/** The dtypes of every kernel's main operand on this backend. */
export const WEBGPU_DTYPES: KernelDTypes = {
  fromHost: FI,
  toHost: [],
  read: FI,
  full: FI,
  dispose: FI,
  memoryInUse: FI,
  unary: F,
  // int32: add, sub, mul, maximum, minimum and the comparisons (elementwise.ts INT_BINARY).
  binary: FI,
  scalar: FI,
  clamp: F,
  reluBackward: F,
  sigmoidBackward: F,
  tanhBackward: F,
  cast: FI,
  axpy: F,
  reduce: F,
  argmax: FI,
  reshape: FI,
  permute: FI,
  slice: FI,
  pad: FI,
  cat: FI,
  indexSelect: FI,
  indexAdd: F,
  gatherRows: F,
  scatterRows: F,
  matmul: F,
  linear: F,
  linearBackward: F,
  conv2d: F,
  conv2dBackwardData: F,
  conv2dBackwardWeights: F,
  maxPool2d: F,
  maxPool2dBackward: F,
  avgPool2d: F,
  avgPool2dBackward: F,
  adaptiveAvgPool2d: F,
  adaptiveAvgPool2dBackward: F,
  batchNormTrain: F,
  batchNormInference: F,
  batchNormBackward: F,
  softmax: F,
  softmaxBackward: F,
  resizeBilinear: F,
  resizeBilinearBackward: F,
  sgdStep: F,
  adamStep: F,
};

/** The webgpu kernels plus what only a GPU backend has. */
export interface WebgpuKernels extends Kernels {
  /** The adapter this backend runs on. */
  readonly info: DeviceInfo;
  /** The device runtime (pool, pipeline cache, command batch), for tests and benchmarks. */
  readonly runtime: Runtime;
  /** Submits the commands encoded so far (reads and the end of each JavaScript task do this too). */
  flush(): void;
  /** Bytes of free GPU buffers the caching allocator keeps for reuse. */
  memoryCached(): number;
  /** Destroys the cached free buffers (live storages are untouched). */
  emptyCache(): void;
}

function s(x: Storage): GpuStorage {
  return gpu(x);
}

function sOrNull(x: Storage | null): GpuStorage | null {
  return x === null ? null : gpu(x);
}

/** Host data as the typed array `dtype` stores (converting, e.g., integer labels held in a Float32Array). */
function hostAs(data: HostArray, dtype: DType): Float32Array | Int32Array {
  if (dtype === 'float32') return data instanceof Float32Array ? data : Float32Array.from(data);
  if (dtype === 'int32') return data instanceof Int32Array ? data : Int32Array.from(data, (v) => Math.trunc(v));
  throw new Error(`webgpu backend: dtype ${dtype} is not supported (float32 and int32 are)`);
}

/** The kernels of the contract on one device runtime. */
export function createWebgpuKernels(rt: Runtime): WebgpuKernels {
  return {
    name: 'webgpu',
    dtypes: WEBGPU_DTYPES,
    info: rt.info,
    runtime: rt,

    fromHost(data, shape, dtype) {
      const n = numel(shape);
      if (data.length !== n) throw new Error(`webgpu backend: ${data.length} values do not fill shape [${shape.join(', ')}]`);
      return rt.upload(hostAs(data, dtype), dtype, n);
    },
    async read(x, shape) {
      const g = s(x);
      const n = numel(shape);
      if (n !== g.size) throw new Error(`webgpu backend: read with shape [${shape.join(', ')}] of a storage of ${g.size} elements`);
      const bytes = await rt.read(g);
      return g.dtype === 'int32' ? new Int32Array(bytes) : new Float32Array(bytes);
    },
    full: (shape, dtype, value) => fill(rt, dtype, numel(shape), value),
    dispose: (x) => s(x).dispose(),
    memoryInUse: () => rt.pool.inUse(),

    unary: (op, x, shape) => unary(rt, op, s(x), shape),
    binary: (op, a, aShape, b, bShape, outShape) => binary(rt, op, s(a), aShape, s(b), bShape, outShape),
    scalar: (op, x, shape, v, reverse) => scalar(rt, op, s(x), shape, v, reverse),
    clamp: (x, shape, lo, hi) => clamp(rt, s(x), shape, lo, hi),
    reluBackward: (dy, y, shape) => reluBackward(rt, s(dy), s(y), shape),
    sigmoidBackward: (dy, y, shape) => sigmoidBackward(rt, s(dy), s(y), shape),
    tanhBackward: (dy, y, shape) => tanhBackward(rt, s(dy), s(y), shape),
    cast: (x, shape, to) => cast(rt, s(x), shape, to),
    axpy: (a, b, shape, alpha) => axpy(rt, s(a), s(b), shape, alpha),

    reduce: (op, x, shape, axes) => reduce(rt, op, s(x), shape, axes),
    argmax: (x, shape, axis) => argmax(rt, s(x), shape, axis),

    reshape: (x, shape, newShape) => reshape(s(x), shape, newShape),
    permute: (x, shape, perm) => permute(rt, s(x), shape, perm),
    slice: (x, shape, starts, outShape) => slice(rt, s(x), shape, starts, outShape),
    pad: (dy, shape, starts, fullShape) => pad(rt, s(dy), shape, starts, fullShape),
    cat: (xs, shapes, axis) => cat(rt, xs.map(s), shapes, axis),
    indexSelect: (x, shape, axis, idx, n) => indexSelect(rt, s(x), shape, axis, s(idx), n),
    indexAdd: (dy, dyShape, axis, idx, outShape) => indexAdd(rt, s(dy), dyShape, axis, s(idx), outShape),
    gatherRows: (x, shape, target) => gatherRows(rt, s(x), shape, s(target)),
    scatterRows: (dy, shape, target) => scatterRows(rt, s(dy), shape, s(target)),

    matmul: (a, aShape, b, bShape, transA, transB) => matmul(rt, s(a), aShape, s(b), bShape, transA, transB),
    linear: (x, xShape, w, wShape, b) => linear(rt, s(x), xShape, s(w), wShape, sOrNull(b)),
    linearBackward: (dy, x, xShape, w, wShape, hasBias, needDx) => linearBackward(rt, s(dy), s(x), xShape, s(w), wShape, hasBias, needDx),

    conv2d: (x, xShape, w, wShape, b, p, yShape) => conv2d(rt, s(x), xShape, s(w), wShape, sOrNull(b), p, yShape),
    conv2dBackwardData: (dy, dyShape, w, wShape, xShape, p) => conv2dBackwardData(rt, s(dy), dyShape, s(w), wShape, xShape, p),
    conv2dBackwardWeights: (dy, dyShape, x, xShape, wShape, hasBias, p) => conv2dBackwardWeights(rt, s(dy), dyShape, s(x), xShape, wShape, hasBias, p),

    maxPool2d: (x, shape, p) => maxPool2d(rt, s(x), shape, p),
    maxPool2dBackward: (dy, x, _y, workspace, shape, p) => maxPool2dBackward(rt, s(dy), s(x), sOrNull(workspace), shape, p),
    avgPool2d: (x, shape, p) => avgPool2d(rt, s(x), shape, p),
    avgPool2dBackward: (dy, shape, p) => avgPool2dBackward(rt, s(dy), shape, p),
    adaptiveAvgPool2d: (x, shape, out) => adaptiveAvgPool2d(rt, s(x), shape, out),
    adaptiveAvgPool2dBackward: (dy, shape, out) => adaptiveAvgPool2dBackward(rt, s(dy), shape, out),

    batchNormTrain: (x, shape, gamma, beta, eps) => batchNormTrain(rt, s(x), shape, s(gamma), s(beta), eps),
    batchNormInference: (x, shape, gamma, beta, mean, variance, eps) => batchNormInference(rt, s(x), shape, s(gamma), s(beta), s(mean), s(variance), eps),
    batchNormBackward: (dy, x, shape, gamma, mean, variance, eps) => batchNormBackward(rt, s(dy), s(x), shape, s(gamma), s(mean), s(variance), eps),

    softmax: (x, shape, axis, log) => softmax(rt, s(x), shape, axis, log),
    softmaxBackward: (dy, y, shape, axis, log) => softmaxBackward(rt, s(dy), s(y), shape, axis, log),

    resizeBilinear: (x, shape, out) => resizeBilinear(rt, s(x), shape, out),
    resizeBilinearBackward: (dy, shape, out) => resizeBilinearBackward(rt, s(dy), shape, out),

    sgdStep: (params, grads, bufs, shapes, h) => sgdStep(rt, params.map(s), grads.map(s), bufs.map(sOrNull), shapes, h),
    adamStep: (params, grads, expAvg, expAvgSq, shapes, h) => adamStep(rt, params.map(s), grads.map(s), expAvg.map(s), expAvgSq.map(s), shapes, h),

    flush: () => rt.flush(),
    memoryCached: () => rt.cachedBytes(),
    emptyCache: () => rt.emptyCache(),
  };
}

let created: Promise<WebgpuKernels> | null = null;
let ready: WebgpuKernels | null = null;

/**
 * Creates the webgpu backend (once; later calls return the same promise). Rejects with a
 * `WebgpuUnavailableError` whose message is one line saying why (no `webgpu` package in Node, no
 * adapter, WebGPU off in the browser); a later call tries again.
 * @example const k = await initWebgpu(); console.log(k.info.adapter);
 */
export function initWebgpu(): Promise<WebgpuKernels> {
  if (created === null) {
    created = createDevice().then(
      ({ device, info, keepAlive }) => (ready = createWebgpuKernels(new Runtime(device, info, keepAlive))),
      (e: unknown) => {
        created = null;
        throw e;
      },
    );
  }
  return created;
}

/** The webgpu backend if `initWebgpu()` has completed, else null. */
export function webgpuKernels(): WebgpuKernels | null {
  return ready;
}

export type { Shape };
