/** The VGG family (Simonyan & Zisserman 2014) as in the lecture: blocks of 3x3 convolutions. */
import { Sequential, LazyConv2d, ReLU, MaxPool2d, Flatten, LazyLinear, Dropout, type Module } from '../nn/index.js';
import { Classifier } from '../train/classifier.js';
import { inChannelsOf, initWeights, type ModelOptions } from './common.js';

/** A VGG architecture: one `[numConvs, outChannels]` pair per block. */
export type VggArch = readonly (readonly [number, number])[];

/** The architectures of the zoo: VGG-11/16/19 (Table 1 of the paper, configurations A, D, E) and the lecture's slim VGG-11. */
export const VGG_ARCHS = {
  vgg11: [[1, 64], [1, 128], [2, 256], [2, 512], [2, 512]],
  vgg16: [[2, 64], [2, 128], [3, 256], [3, 512], [3, 512]],
  vgg19: [[2, 64], [2, 128], [4, 256], [4, 512], [4, 512]],
  'vgg11-slim': [[1, 16], [1, 32], [2, 64], [2, 128], [2, 128]],
} as const satisfies Record<string, VggArch>;

/**
 * The lecture's `vgg_block`: `numConvs` 3x3 convolutions (padding 1) with ReLU, then a 2x2 max-pool
 * with stride 2 (halving height and width).
 * @example vggBlock(2, 256)
 */
export function vggBlock(numConvs: number, outChannels: number): Sequential {
  const layers: Module[] = [];
  for (let i = 0; i < numConvs; i++) {
    layers.push(new LazyConv2d(outChannels, { kernelSize: 3, padding: 1 }));
    layers.push(new ReLU());
  }
  layers.push(new MaxPool2d({ kernelSize: 2, stride: 2 }));
  return new Sequential(...layers);
}

/** Options of `VGG`: the architecture plus the usual hyperparameters. */
export interface VggOptions extends ModelOptions {
  /** One `[numConvs, outChannels]` pair per block. */
  arch: VggArch;
}

/**
 * The lecture's `VGG(d2l.Classifier)`: the conv blocks of `arch`, then two 4096-unit dense layers
 * with dropout and the classifier layer.
 * @example new VGG({ arch: VGG_ARCHS.vgg11 }).layerSummary([1, 1, 224, 224]);
 * @example new VGG({ arch: [[1, 16], [1, 32], [2, 64], [2, 128], [2, 128]], lr: 0.01 })
 */
export class VGG extends Classifier {
  /** Input channels this instance is meant for. */
  readonly inChannels: number;
  /** The blocks' `[numConvs, outChannels]`. */
  readonly arch: VggArch;
  /** The layers. */
  net: Sequential;

  constructor(opts: VggOptions) {
    super(opts);
    if (!Array.isArray(opts.arch) || opts.arch.length === 0) throw new Error('VGG: arch must be a non-empty list of [numConvs, outChannels]');
    this.inChannels = inChannelsOf(opts, 'VGG');
    this.arch = opts.arch;
    const convBlks: Module[] = [];
    for (const [numConvs, outChannels] of opts.arch) convBlks.push(vggBlock(numConvs, outChannels));
    this.net = new Sequential(
      ...convBlks, new Flatten(),
      new LazyLinear(4096), new ReLU(), new Dropout(0.5),
      new LazyLinear(4096), new ReLU(), new Dropout(0.5),
      new LazyLinear(this.numClasses),
    );
    initWeights(this.net, opts, 'VGG');
  }
}
