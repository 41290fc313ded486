/**
 * The dtypes each native kernel implements (of its main operand).
 * - float32 everywhere.
 * - bfloat16 in every kernel but the fused optimizer updates (float32 master weights and state):
 *   computed in float32 and rounded once (native/src/dtype.h says which kernels run oneDNN's own
 *   bf16 primitives and which widen to float32); batch norm takes float32 gamma/beta/statistics.
 * - int32 for memory, layout and index kernels, cast, argmax, and binary/scalar add, sub, mul,
 *   maximum, minimum and the comparisons (int32 results, wrapping like PyTorch's integer ops).
 */
import type { DType, KernelDTypes } from '../kernels.js';

const F: readonly DType[] = ['float32'];
/** float32 and bfloat16. */
const FB: readonly DType[] = ['float32', 'bfloat16'];
/** float32, bfloat16 and int32. */
const FBI: readonly DType[] = ['float32', 'bfloat16', 'int32'];

/** Per-kernel dtypes of the native backend. */
export const nativeDTypes: KernelDTypes = {
  fromHost: FBI, toHost: FBI, read: FBI, full: FBI, dispose: FBI, memoryInUse: FBI,
  unary: FB, binary: FBI, scalar: FBI, clamp: FB, reluBackward: FB, sigmoidBackward: FB, tanhBackward: FB,
  cast: FBI, axpy: FB, reduce: FB, argmax: FBI,
  reshape: FBI, permute: FBI, slice: FBI, pad: FBI, cat: FBI, indexSelect: FBI, indexAdd: FB, gatherRows: FB, scatterRows: FB,
  matmul: FB, linear: FB, linearBackward: FB, conv2d: FB, conv2dBackwardData: FB, conv2dBackwardWeights: FB,
  maxPool2d: FB, maxPool2dBackward: FB, avgPool2d: FB, avgPool2dBackward: FB, adaptiveAvgPool2d: FB, adaptiveAvgPool2dBackward: FB,
  batchNormTrain: FB, batchNormInference: FB, batchNormBackward: FB, softmax: FB, softmaxBackward: FB,
  resizeBilinear: FB, resizeBilinearBackward: FB,
  sgdStep: F, adamStep: F,
};
