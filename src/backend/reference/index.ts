/**
 * The reference backend: every kernel of the contract in plain TypeScript over row-major typed
 * arrays. It is the oracle the native backend is tested against, so each kernel favours a direct,
 * readable statement of PyTorch's semantics over speed. One file per kernel family.
 */
import type { DType, HostArray, KernelDTypes, Kernels, Shape, Storage } from '../kernels.js';
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

/** Copies host data (the host array type of `dtype`) into a new storage of `dtype`. */
function fromHost(data: HostArray, shape: Shape, dtype: DType): Storage {
  const n = numel(shape);
  if (data.length !== n) {
    throw new Error(`reference backend: ${data.length} values do not fill shape ${fmt(shape)}`);
  }
  if (data instanceof Uint16Array) throw new Error('reference backend: bfloat16 data is not supported (it has float32, float64, int32)');
  const out = alloc(dtype, n);
  if (dtype === 'int32' && !(data instanceof Int32Array)) {
    for (let i = 0; i < n; i++) out[i] = Math.trunc(data[i]!);
  } else {
    out.set(data);
  }
  return wrap(out);
}

/** A row-major copy of the storage, in its dtype's host array type. */
function toHost(s: Storage, shape: Shape): HostArray {
  const d = ref(s).data;
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

const F: readonly DType[] = ['float32', 'float64'];
const ANY: readonly DType[] = ['float32', 'float64', 'int32'];

/** The dtypes of each kernel's main operand (float32 and float64 for the math, int32 where it makes sense). */
const dtypes: KernelDTypes = {
  fromHost: ANY, toHost: ANY, read: ANY, full: ANY, dispose: ANY, memoryInUse: ANY,
  unary: F, binary: ANY, scalar: ANY, clamp: F, reluBackward: F, sigmoidBackward: F, tanhBackward: F,
  cast: ANY, axpy: F, reduce: F, argmax: ANY,
  reshape: ANY, permute: ANY, slice: ANY, pad: ANY, cat: ANY, indexSelect: ANY, indexAdd: F, gatherRows: F, scatterRows: F,
  matmul: F, linear: F, linearBackward: F, conv2d: F, conv2dBackwardData: F, conv2dBackwardWeights: F,
  maxPool2d: F, maxPool2dBackward: F, avgPool2d: F, avgPool2dBackward: F, adaptiveAvgPool2d: F, adaptiveAvgPool2dBackward: F,
  batchNormTrain: F, batchNormInference: F, batchNormBackward: F, softmax: F, softmaxBackward: F,
  resizeBilinear: F, resizeBilinearBackward: F,
  sgdStep: ['float32'], adamStep: ['float32'],
};

/** The pure-TypeScript implementation of every kernel. */
export const referenceKernels: Kernels = {
  name: 'reference',
  dtypes,
  fromHost,
  toHost,
  read: async (s, shape) => toHost(s, shape),
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
