/**
 * convnet — deep learning in TypeScript on a native oneDNN backend.
 * @example
 * import * as cn from 'convnet';
 * const x = cn.randn([4, 1, 28, 28]);
 * const w = cn.randn([6, 1, 5, 5], { requiresGrad: true });
 * const loss = cn.conv2d(x, w).relu().mean();
 * loss.backward();
 */
export * from './tensor/index.js';
export * from './autograd/index.js';
export * from './ops/index.js';
export {
  getBackend,
  setBackend,
  withBackend,
  backendByName,
  nativeAvailable,
  emptyCache,
  memoryCached,
  memoryStats,
  resetPeakMemoryStats,
  type MemoryStats,
  setNumThreads,
  getNumThreads,
  useBackend,
  webgpuReady,
  BACKEND_NAMES,
  bf16Support,
  nativeCpuInfo,
  setBf16Mode,
  type BackendName,
  type NativeCpuInfo,
  type Bf16Mode,
} from './backend/index.js';
export { setConvAlgo, getConvAlgo, convAlgos, resetConvAlgos } from './backend/native/conv-algo.js';
export { WebgpuUnavailableError } from './backend/webgpu/errors.js';
export type {
  Kernels,
  KernelName,
  KernelDTypes,
  Storage,
  Shape,
  DType,
  FloatDType,
  HostArray,
  UnaryOp,
  BinaryOp,
  ReduceOp,
  Conv2dParams,
  Pool2dParams,
  PoolResult,
  BatchNormTrainResult,
  BatchNormGrads,
} from './backend/kernels.js';
export { UNARY_OPS, BINARY_OPS, REDUCE_OPS } from './backend/kernels.js';
export * as data from './data/index.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export * as train from './train/index.js';
export * as models from './models/index.js';
export * as io from './io/index.js';
export * as onnx from './onnx/index.js';
export * as dist from './dist/index.js';
export * as viz from './viz/index.js';
