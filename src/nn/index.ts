/**
 * Neural-network building blocks, as `torch.nn`: `Module`, `Parameter`, `Sequential`, the layers
 * of the modern-CNN lecture (lazy ones included), `init`, and the lecture's scratch batch norm.
 * Exported from the package as `nn`.
 * @example
 * import { nn } from 'convnet';
 * const net = new nn.Sequential(new nn.LazyConv2d(6, { kernelSize: 5 }), new nn.ReLU(), new nn.Flatten(), new nn.LazyLinear(10));
 * net.apply(nn.xavierInitCnn);
 */
export { Parameter } from './parameter.js';
export {
  Module,
  type ForwardHook,
  type ForwardPreHook,
  type LoadStateDictOptions,
  type LoadStateDictResult,
  type BufferOptions,
} from './module.js';
export { Sequential } from './sequential.js';
export { Conv2d, LazyConv2d, type Conv2dOptions } from './layers/conv.js';
export { Linear, LazyLinear, type LinearOptions } from './layers/linear.js';
export {
  BatchNormBase,
  BatchNorm1d,
  BatchNorm2d,
  LazyBatchNorm1d,
  LazyBatchNorm2d,
  type BatchNormOptions,
} from './layers/batchnorm.js';
export { MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, type Pool2dOptions, type AvgPool2dOptions } from './layers/pooling.js';
export { ReLU, Sigmoid, Tanh, Identity } from './layers/activation.js';
export { Dropout } from './layers/dropout.js';
export { Flatten, type FlattenOptions } from './layers/flatten.js';
export type { IntPair } from './layers/util.js';
export { batchNorm, BatchNorm } from './batch-norm-scratch.js';
export * as init from './init.js';
export { initCnn, xavierInitCnn } from './init-cnn.js';
export type { Nonlinearity, FanMode, KaimingOptions, FillOptions } from './init.js';
