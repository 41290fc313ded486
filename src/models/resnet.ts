/** d2l's ResNet (He et al. 2016): residual blocks and ResNet-18, for 96x96 inputs by default. */
import { Module, Sequential, LazyConv2d, LazyBatchNorm2d, ReLU, MaxPool2d, AdaptiveAvgPool2d, Flatten, LazyLinear } from '../nn/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { relu } from '../ops/index.js';
import { Classifier } from '../train/classifier.js';
import { inChannelsOf, initWeights, type ModelOptions } from './common.js';

/** Options of `Residual`. */
export interface ResidualOptions {
  /** Project the shortcut with a 1x1 convolution (needed when channels or resolution change). */
  use1x1conv?: boolean;
  /** Stride of the first 3x3 convolution (and of the 1x1 shortcut). */
  strides?: number;
}

/**
 * d2l's `Residual` block: two 3x3 convolutions with batch norm, the input added back (through a
 * 1x1 convolution when `use1x1conv`), ReLU.
 * @example new Residual(128, { use1x1conv: true, strides: 2 })
 */
export class Residual extends Module {
  conv1: LazyConv2d;
  conv2: LazyConv2d;
  conv3: LazyConv2d | null;
  bn1: LazyBatchNorm2d;
  bn2: LazyBatchNorm2d;

  constructor(numChannels: number, opts: ResidualOptions = {}) {
    super();
    const strides = opts.strides ?? 1;
    this.conv1 = new LazyConv2d(numChannels, { kernelSize: 3, padding: 1, stride: strides });
    this.conv2 = new LazyConv2d(numChannels, { kernelSize: 3, padding: 1 });
    this.conv3 = opts.use1x1conv ? new LazyConv2d(numChannels, { kernelSize: 1, stride: strides }) : null;
    this.bn1 = new LazyBatchNorm2d();
    this.bn2 = new LazyBatchNorm2d();
  }

  override forward(X: Tensor): Tensor {
    let Y = relu(this.bn1.call(this.conv1.call(X)));
    Y = this.bn2.call(this.conv2.call(Y));
    if (this.conv3 !== null) X = this.conv3.call(X);
    return relu(Y.add(X));
  }
}

/** A ResNet architecture: `[numResiduals, numChannels]` per stage. */
export type ResNetArch = readonly (readonly [number, number])[];

/** Options of `ResNet`. */
export interface ResNetOptions extends ModelOptions {
  /** `[numResiduals, numChannels]` per stage. */
  arch: ResNetArch;
}

/**
 * d2l's `ResNet(d2l.Classifier)`: the stem `b1`, stages `b2..`, and the `last` head (global
 * average pooling, flatten, the classifier layer).
 */
export class ResNet extends Classifier {
  /** Input channels this instance is meant for. */
  readonly inChannels: number;
  /** Stages. */
  readonly arch: ResNetArch;
  /** The layers. */
  net: Sequential;

  /** 7x7/2 convolution with 64 channels, batch norm, ReLU, 3x3/2 max-pool. */
  b1(): Sequential {
    return new Sequential(
      new LazyConv2d(64, { kernelSize: 7, stride: 2, padding: 3 }),
      new LazyBatchNorm2d(), new ReLU(),
      new MaxPool2d({ kernelSize: 3, stride: 2, padding: 1 }),
    );
  }

  /** One stage: `numResiduals` blocks; the first halves the resolution unless `firstBlock`. */
  block(numResiduals: number, numChannels: number, firstBlock = false): Sequential {
    const blk: Module[] = [];
    for (let i = 0; i < numResiduals; i++) {
      if (i === 0 && !firstBlock) blk.push(new Residual(numChannels, { use1x1conv: true, strides: 2 }));
      else blk.push(new Residual(numChannels));
    }
    return new Sequential(...blk);
  }

  constructor(opts: ResNetOptions) {
    super(opts);
    this.inChannels = inChannelsOf(opts, 'ResNet');
    this.arch = opts.arch;
    this.net = new Sequential(this.b1());
    this.arch.forEach(([numResiduals, numChannels], i) => {
      this.net.addModule(`b${i + 2}`, this.block(numResiduals, numChannels, i === 0));
    });
    this.net.addModule('last', new Sequential(new AdaptiveAvgPool2d([1, 1]), new Flatten(), new LazyLinear(this.numClasses)));
    initWeights(this.net, opts, 'ResNet');
  }
}

/**
 * d2l's `ResNet18`: stages ((2, 64), (2, 128), (2, 256), (2, 512)).
 * @example new ResNet18({ lr: 0.01 }).layerSummary([1, 1, 96, 96]);
 */
export class ResNet18 extends ResNet {
  constructor(opts: ModelOptions = {}) {
    super({ ...opts, arch: [[2, 64], [2, 128], [2, 256], [2, 512]] });
  }
}
