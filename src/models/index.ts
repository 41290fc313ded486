/** The model zoo: the lecture's CNNs as `Classifier`s, and the registry by CLI name. */
export { type ModelOptions, type InitScheme, INIT_SCHEMES, initWeights } from './common.js';
export { AlexNet } from './alexnet.js';
export { VGG, vggBlock, VGG_ARCHS, type VggArch, type VggOptions } from './vgg.js';
export { NiN, ninBlock } from './nin.js';
export { LeNet, BNLeNetScratch, BNLeNet } from './lenet.js';
export {
  DenseNet,
  DenseBlock,
  convBlock,
  transitionBlock,
  DenseNetBC,
  BottleneckDenseBlock,
  bottleneckBlock,
  compressionTransition,
  densenet121,
  densenet169,
  densenet201,
  DENSENET_BC_ARCHS,
  type DenseNetOptions,
  type DenseNetBCOptions,
} from './densenet.js';
export { Residual, ResNet, ResNet18, type ResidualOptions, type ResNetArch, type ResNetOptions } from './resnet.js';
export { models, modelNames, modelEntry, createModel, defaultInputShape, type ModelEntry } from './registry.js';
export { benchTraining, type BenchTrainingOptions, type BenchTrainingResult } from './bench.js';
export { estimateModelMemory, checkModelMemory, type ModelMemoryOptions } from './memory.js';
