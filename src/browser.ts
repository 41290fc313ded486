/**
 * The browser entry of convnet: the core without Node-only modules — tensors, autograd, ops,
 * backend selection (reference and webgpu; the native addon is Node-only), nn, optim, the model
 * zoo and the training loop (`Classifier`, `Trainer`). Bundled to dist/browser/convnet.js by
 * `npm run build:browser` (scripts/build-browser.mjs), which also swaps the few modules that touch
 * Node for browser stand-ins (the native addon loader, Dawn's loader, `node:events`).
 * Left out: data loading from files, checkpoints and safetensors files, figures, ONNX, the CLI.
 * @example
 * import * as cn from './convnet.js';
 * await cn.useBackend(navigator.gpu ? 'webgpu' : 'reference');
 */
export * from './tensor/index.js';
export * from './autograd/index.js';
export * from './ops/index.js';
export {
  getBackend,
  setBackend,
  withBackend,
  backendByName,
  useBackend,
  webgpuReady,
  emptyCache,
  memoryCached,
  BACKEND_NAMES,
  type BackendName,
} from './backend/index.js';
export { WebgpuUnavailableError } from './backend/webgpu/errors.js';
export { webgpuKernels, type WebgpuKernels, type DeviceInfo } from './backend/webgpu/index.js';
export type { Kernels, Storage, Shape, DType, HostArray } from './backend/kernels.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export * as models from './models/index.js';
export * as train from './browser/train.js';
