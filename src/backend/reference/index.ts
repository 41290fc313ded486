/**
 * The reference backend: every kernel of the contract in plain TypeScript over row-major typed
 * arrays. It is the oracle the native backend is tested against, so each kernel favours a direct,
 * readable statement of PyTorch's semantics over speed. One file per kernel family.
 */
import type { DType, HostArray, Kernels, Shape, Storage } from '../kernels.js';
import { alloc, memoryInUse, ref, wrap } from './storage.js';
import { fmt, numel } from './util.js';
import { axpy, binary, cast, clamp, reluBackward, scalar, sigmoidBackward, tanhBackward, unary } from './elementwise.js';
import { argmax, reduce } from './reduce.js';
import { cat, gatherRows, indexAdd, indexSelect, pad, permute, reshape, scatterRows, slice } from './layout.js';
import { linear, linearBackward, matmul } from './linalg.js';
import { conv2d, conv2dBackwardData, conv2dBackwardWeights } from './conv.js';
import { adaptiveAvgPool2d, adaptiveAvgPool2dBackward, avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward } from './pool.js';
import { batchNormBackward, batchNormInference, batchNormTrain } from './norm.js';
import { softmax, softmaxBackward } from './softmax.js';
import { resizeBilinear, resizeBilinearBackward } from './resize.js';
import { adamStep, sgdStep } from './optim.js';

export { RefStorage } from './storage.js';

/** Copies host data into a new storage of `dtype` (converting if the array type differs). */
function fromHost(data: HostArray, shape: Shape, dtype: DType): Storage {
  const n = numel(shape);
  if (data.length !== n) {
    throw new Error(`reference backend: ${data.length} values do not fill shape ${fmt(shape)}`);
  }
  const out = alloc(dtype, n);
  if (dtype === 'int32' && data instanceof Float32Array) {
    for (let i = 0; i < n; i++) out[i] = Math.trunc(data[i]!);
  } else {
    out.set(data);
  }
  return wrap(out);
}

/** A row-major copy of the storage; throws if the storage's dtype is not `dtype`. */
function toHost(s: Storage, shape: Shape, dtype: DType): HostArray {
  const d = ref(s).data;
  if ((dtype === 'int32') !== d instanceof Int32Array) {
    throw new Error(`reference backend: toHost as ${dtype} of a storage holding ${d instanceof Int32Array ? 'int32' : 'float32'}`);
  }
  if (d.length !== numel(shape)) {
    throw new Error(`reference backend: toHost with shape ${fmt(shape)} of a storage of ${d.length} elements`);
  }
  return d.slice();
}

/** A new storage filled with `value` (truncated toward zero for int32). */
function full(shape: Shape, dtype: DType, value: number): Storage {
  const out = alloc(dtype, numel(shape));
  out.fill(dtype === 'int32' ? Math.trunc(value) : value);
  return wrap(out);
}

/** Releases the storage (harmless twice; shared reshape views stay valid). */
function dispose(s: Storage): void {
  ref(s).dispose();
}

/** The pure-TypeScript implementation of every kernel. */
export const referenceKernels: Kernels = {
  name: 'reference',
  fromHost,
  toHost,
  full,
  dispose,
  memoryInUse,
  unary,
  binary,
  scalar,
  clamp,
  reluBackward,
  sigmoidBackward,
  tanhBackward,
  cast,
  axpy,
  reduce,
  argmax,
  reshape,
  permute,
  slice,
  pad,
  cat,
  indexSelect,
  indexAdd,
  gatherRows,
  scatterRows,
  matmul,
  linear,
  linearBackward,
  conv2d,
  conv2dBackwardData,
  conv2dBackwardWeights,
  maxPool2d,
  maxPool2dBackward,
  avgPool2d,
  avgPool2dBackward,
  adaptiveAvgPool2d,
  adaptiveAvgPool2dBackward,
  batchNormTrain,
  batchNormInference,
  batchNormBackward,
  softmax,
  softmaxBackward,
  resizeBilinear,
  resizeBilinearBackward,
  sgdStep,
  adamStep,
};
