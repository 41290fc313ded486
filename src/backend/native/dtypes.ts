/**
 * The dtypes each native kernel implements (of its main operand). float32 everywhere; int32 for
 * memory, layout, index and the integer elementwise ops.
 */
import type { DType, KernelDTypes } from '../kernels.js';

const F: readonly DType[] = ['float32'];
const FI: readonly DType[] = ['float32', 'int32'];

/** Per-kernel dtypes of the native backend. */
export const nativeDTypes: KernelDTypes = {
  fromHost: FI, toHost: FI, read: FI, full: FI, dispose: FI, memoryInUse: FI,
  unary: F, binary: F, scalar: F, clamp: F, reluBackward: F, sigmoidBackward: F, tanhBackward: F,
  cast: FI, axpy: F, reduce: F, argmax: F,
  reshape: FI, permute: FI, slice: FI, pad: FI, cat: FI, indexSelect: FI, indexAdd: F, gatherRows: F, scatterRows: F,
  matmul: F, linear: F, linearBackward: F, conv2d: F, conv2dBackwardData: F, conv2dBackwardWeights: F,
  maxPool2d: F, maxPool2dBackward: F, avgPool2d: F, avgPool2dBackward: F, adaptiveAvgPool2d: F, adaptiveAvgPool2dBackward: F,
  batchNormTrain: F, batchNormInference: F, batchNormBackward: F, softmax: F, softmaxBackward: F,
  resizeBilinear: F, resizeBilinearBackward: F,
  sgdStep: F, adamStep: F,
};
