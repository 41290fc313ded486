/**
 * The model zoo by name (the CLI's names): each entry knows how to build the model and its default
 * input size, learning rate (the lecture's training setting) and number of classes.
 */
import type { Classifier } from '../train/classifier.js';
import type { InitScheme, ModelOptions } from './common.js';
import { AlexNet } from './alexnet.js';
import { VGG, VGG_ARCHS } from './vgg.js';
import { NiN } from './nin.js';
import { LeNet, BNLeNetScratch, BNLeNet } from './lenet.js';
import { DenseNet, densenet121, densenet169, densenet201 } from './densenet.js';
import { ResNet18 } from './resnet.js';

/** A zoo entry. */
export interface ModelEntry {
  /**
   * Builds the model (lazy: parameters materialize on the first forward). Options default to the
   * entry's `lr`, `numClasses` and `inChannels`.
   */
  create(opts?: ModelOptions): Classifier;
  /** Default input [height, width]. */
  inputSize: readonly [number, number];
  /** Default input channels (1: Fashion-MNIST). */
  inChannels: number;
  /** Default learning rate (the lecture's training setting). */
  lr: number;
  /** Default number of classes. */
  numClasses: number;
  /**
   * The weights the lecture's recipe trains from: `'xavier'` when it runs
   * `model.apply_init([first batch], init_cnn)` before training (VGG, NiN, the LeNets, ResNet),
   * `'default'` when it does not (AlexNet and DenseNet: their constructors' `apply(init_cnn)` meets
   * still-lazy layers and does nothing in PyTorch). `create` itself always builds with the
   * constructor's init; the trainer (`convnet train`) applies the recipe.
   */
  init: InitScheme;
  /** One line for `--help` and listings. */
  description: string;
}

function entry(
  build: (o: ModelOptions) => Classifier,
  inputSize: number,
  lr: number,
  description: string,
  init: InitScheme,
): ModelEntry {
  const e: ModelEntry = {
    inputSize: [inputSize, inputSize],
    inChannels: 1,
    lr,
    numClasses: 10,
    description,
    init,
    create(opts: ModelOptions = {}): Classifier {
      return build({ lr: e.lr, numClasses: e.numClasses, inChannels: e.inChannels, ...opts });
    },
  };
  return e;
}

/** Every zoo model by its CLI name. */
export const models: Readonly<Record<string, ModelEntry>> = Object.freeze({
  lenet: entry((o) => new LeNet(o), 28, 0.1, "d2l's LeNet-5 (sigmoid, average pooling), 28x28", 'xavier'),
  'bnlenet-scratch': entry((o) => new BNLeNetScratch(o), 28, 0.1, 'LeNet with the from-scratch BatchNorm of the lecture, 28x28', 'xavier'),
  bnlenet: entry((o) => new BNLeNet(o), 28, 0.1, 'LeNet with LazyBatchNorm2d/1d (concise), 28x28', 'xavier'),
  alexnet: entry((o) => new AlexNet(o), 224, 0.01, 'AlexNet (d2l single-GPU version), 224x224', 'default'),
  vgg11: entry((o) => new VGG({ ...o, arch: VGG_ARCHS.vgg11 }), 224, 0.01, 'VGG-11 (configuration A), 224x224', 'xavier'),
  vgg16: entry((o) => new VGG({ ...o, arch: VGG_ARCHS.vgg16 }), 224, 0.01, 'VGG-16 (configuration D), 224x224', 'xavier'),
  vgg19: entry((o) => new VGG({ ...o, arch: VGG_ARCHS.vgg19 }), 224, 0.01, 'VGG-19 (configuration E), 224x224', 'xavier'),
  'vgg11-slim': entry(
    (o) => new VGG({ ...o, arch: VGG_ARCHS['vgg11-slim'] }),
    224,
    0.01,
    "the lecture's slim VGG-11, arch ((1,16),(1,32),(2,64),(2,128),(2,128)), 224x224",
    'xavier',
  ),
  nin: entry((o) => new NiN(o), 224, 0.05, 'Network in Network, 224x224', 'xavier'),
  densenet: entry((o) => new DenseNet(o), 96, 0.01, "the lecture's DenseNet (64 channels, growth 32, arch (4,4,4,4)), 96x96", 'default'),
  densenet121: entry(densenet121, 96, 0.01, 'DenseNet-121 (Table 1: bottleneck + compression), 96x96', 'default'),
  densenet169: entry(densenet169, 96, 0.01, 'DenseNet-169 (Table 1: bottleneck + compression), 96x96', 'default'),
  densenet201: entry(densenet201, 96, 0.01, 'DenseNet-201 (Table 1: bottleneck + compression), 96x96', 'default'),
  resnet18: entry((o) => new ResNet18(o), 96, 0.01, "d2l's ResNet-18, 96x96", 'xavier'),
});

/** The zoo's names, in listing order. */
export const modelNames: readonly string[] = Object.freeze(Object.keys(models));

/** The entry for `name`, or an error listing the valid names. */
export function modelEntry(name: string): ModelEntry {
  const e = Object.prototype.hasOwnProperty.call(models, name) ? models[name] : undefined;
  if (e === undefined) throw new Error(`unknown model '${name}'; valid models: ${modelNames.join(', ')}`);
  return e;
}

/**
 * Builds a zoo model by name with the entry's defaults overridden by `opts`.
 * @example const model = createModel('bnlenet', { lr: 0.1 });
 */
export function createModel(name: string, opts: ModelOptions = {}): Classifier {
  return modelEntry(name).create(opts);
}

/**
 * The default input shape of a zoo model: `[batchSize, inChannels, height, width]`.
 * @example defaultInputShape('alexnet') // [1, 1, 224, 224]
 */
export function defaultInputShape(name: string, batchSize = 1, inChannels?: number): number[] {
  const e = modelEntry(name);
  return [batchSize, inChannels ?? e.inChannels, e.inputSize[0], e.inputSize[1]];
}
