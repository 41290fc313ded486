/**
 * The ops layer: every differentiable operation, defined once (validation + shape rule, forward via
 * a backend kernel, backward next to it). Importing this module also installs the Tensor methods
 * (`x.add(y)`, `x.mean(...)`, ...).
 */
import './methods.js';

export {
  add,
  sub,
  mul,
  div,
  pow,
  maximum,
  minimum,
  gt,
  ge,
  lt,
  le,
  eq,
  ne,
  neg,
  sqrt,
  rsqrt,
  exp,
  log,
  abs,
  sign,
  square,
  reciprocal,
  clamp,
  cast,
  type Operand,
  type ClampOptions,
} from './elementwise.js';
export { relu, sigmoid, tanh, softmax, logSoftmax } from './activation.js';
export {
  sum,
  mean,
  max,
  min,
  argmax,
  argmin,
  variance,
  variance as var,
  type Dims,
  type ReduceOptions,
  type VarOptions,
} from './reduce.js';
export { matmul, linear } from './linalg.js';
export {
  reshape,
  view,
  flatten,
  squeeze,
  unsqueeze,
  permute,
  transpose,
  cat,
  stack,
  slice,
  narrow,
  indexSelect,
  expand,
  broadcastTo,
  sumTo,
  detach,
  clone,
} from './shape.js';
export { conv2d, convOutSize, type Conv2dOptions, type Size2 } from './conv.js';
export { maxPool2d, avgPool2d, adaptiveAvgPool2d, type Pool2dOptions, type AvgPool2dOptions } from './pool.js';
export { batchNorm, type BatchNormOptions } from './norm.js';
export { crossEntropy, mseLoss, type LossOptions, type CrossEntropyOptions, type Reduction } from './loss.js';
export { dropout, type DropoutOptions } from './dropout.js';
export { interpolate, type InterpolateOptions } from './resize.js';
