/**
 * DenseNet (Huang et al. 2017): the lecture's version (`DenseNet`: conv blocks BN-ReLU-Conv3x3,
 * transition layers halving the channels) and the Table-1 variants DenseNet-121/169/201
 * (`DenseNetBC`: bottleneck layers BN-ReLU-Conv1x1(4k)-BN-ReLU-Conv3x3(k) and compression 0.5,
 * convolutions without bias as in the reference implementation). 96x96 inputs by default.
 */
import {
  Module,
  Sequential,
  LazyConv2d,
  LazyBatchNorm2d,
  ReLU,
  MaxPool2d,
  AvgPool2d,
  AdaptiveAvgPool2d,
  Flatten,
  LazyLinear,
} from '../nn/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { cat } from '../ops/index.js';
import { Classifier } from '../train/classifier.js';
import { inChannelsOf, initWeights, type ModelOptions } from './common.js';

/**
 * The lecture's `conv_block`: batch norm, ReLU, 3x3 convolution with `numChannels` outputs.
 * @example convBlock(32)
 */
export function convBlock(numChannels: number): Sequential {
  return new Sequential(new LazyBatchNorm2d(), new ReLU(), new LazyConv2d(numChannels, { kernelSize: 3, padding: 1 }));
}

/**
 * The lecture's `DenseBlock`: `numConvs` blocks, each one's output concatenated to its input along
 * the channels, so the output has `inChannels + numConvs * numChannels` channels.
 * @example new DenseBlock(2, 10).call(cn.randn([4, 3, 8, 8])).shape // [4, 23, 8, 8]
 */
export class DenseBlock extends Module {
  /** The convolution blocks. */
  net: Sequential;

  /**
   * @param numConvs number of convolution blocks
   * @param numChannels output channels of each block (the growth rate)
   * @param block builds one block (default: the lecture's `convBlock`)
   */
  constructor(numConvs: number, numChannels: number, block: (numChannels: number) => Module = convBlock) {
    super();
    const layer: Module[] = [];
    for (let i = 0; i < numConvs; i++) layer.push(block(numChannels));
    this.net = new Sequential(...layer);
  }

  override forward(X: Tensor): Tensor {
    for (const blk of this.net) {
      const Y = blk.call(X);
      // Concatenate input and output of each block along the channels
      X = cat([X, Y], 1);
    }
    return X;
  }
}

/**
 * The lecture's `transition_block`: batch norm, ReLU, 1x1 convolution to `numChannels`, and 2x2
 * average pooling with stride 2.
 * @example transitionBlock(10).call(Y).shape // [4, 10, 4, 4] for Y of shape [4, 23, 8, 8]
 */
export function transitionBlock(numChannels: number): Sequential {
  return new Sequential(
    new LazyBatchNorm2d(), new ReLU(),
    new LazyConv2d(numChannels, { kernelSize: 1 }),
    new AvgPool2d({ kernelSize: 2, stride: 2 }),
  );
}

/** Options of the lecture's `DenseNet`. */
export interface DenseNetOptions extends ModelOptions {
  /** Channels after the first block (default 64). */
  numChannels?: number;
  /** Channels added by each conv block (default 32). */
  growthRate?: number;
  /** Conv blocks per dense block (default [4, 4, 4, 4]). */
  arch?: readonly number[];
}

/** The ResNet-style stem: 7x7/2 convolution with `channels` outputs, batch norm, ReLU, 3x3/2 max-pool. */
function stem(channels: number, bias: boolean): Sequential {
  return new Sequential(
    new LazyConv2d(channels, { kernelSize: 7, stride: 2, padding: 3, bias }),
    new LazyBatchNorm2d(), new ReLU(),
    new MaxPool2d({ kernelSize: 3, stride: 2, padding: 1 }),
  );
}

/** The head: batch norm, ReLU, global average pooling, flatten, the classifier layer. */
function head(numClasses: number): Sequential {
  return new Sequential(
    new LazyBatchNorm2d(), new ReLU(),
    new AdaptiveAvgPool2d([1, 1]), new Flatten(),
    new LazyLinear(numClasses),
  );
}

/**
 * The lecture's `DenseNet(d2l.Classifier)`: the ResNet stem (`b1`), dense blocks `dense_blk1..4`
 * with transition layers `tran_blk1..3` halving the channels, and the `last` head.
 * Initialized with PyTorch's default init, as the lecture's model (its `apply(init_cnn)` meets
 * still-lazy layers); `{ init: 'xavier' }` applies Xavier to the convolution and linear weights.
 * @example new DenseNet({ lr: 0.01 }).layerSummary([1, 1, 96, 96]);
 */
export class DenseNet extends Classifier {
  /** Input channels this instance is meant for. */
  readonly inChannels: number;
  /** Channels after the stem. */
  readonly numChannels: number;
  /** Channels added per conv block. */
  readonly growthRate: number;
  /** Conv blocks per dense block. */
  readonly arch: readonly number[];
  /** The layers. */
  net: Sequential;

  /** The lecture's `b1`: 7x7/2 convolution with 64 channels, batch norm, ReLU, 3x3/2 max-pool. */
  b1(): Sequential {
    return stem(64, true);
  }

  constructor(opts: DenseNetOptions = {}) {
    super(opts);
    this.inChannels = inChannelsOf(opts, 'DenseNet');
    this.numChannels = opts.numChannels ?? 64;
    this.growthRate = opts.growthRate ?? 32;
    this.arch = opts.arch ?? [4, 4, 4, 4];
    this.net = new Sequential(this.b1());
    let numChannels = this.numChannels;
    this.arch.forEach((numConvs, i) => {
      this.net.addModule(`dense_blk${i + 1}`, new DenseBlock(numConvs, this.growthRate));
      // The number of output channels in the previous dense block
      numChannels += numConvs * this.growthRate;
      // A transition layer that halves the number of channels is added between the dense blocks
      if (i !== this.arch.length - 1) {
        numChannels = Math.floor(numChannels / 2);
        this.net.addModule(`tran_blk${i + 1}`, transitionBlock(numChannels));
      }
    });
    this.net.addModule('last', head(this.numClasses));
    initWeights(this.net, opts, 'DenseNet');
  }
}

/**
 * DenseNet-B's bottleneck layer: BN-ReLU-Conv1x1 (`bnSize * growthRate` channels) then
 * BN-ReLU-Conv3x3 (`growthRate` channels), convolutions without bias.
 * @example bottleneckBlock(32)
 */
export function bottleneckBlock(growthRate: number, bnSize = 4): Sequential {
  return new Sequential(
    new LazyBatchNorm2d(), new ReLU(),
    new LazyConv2d(bnSize * growthRate, { kernelSize: 1, bias: false }),
    new LazyBatchNorm2d(), new ReLU(),
    new LazyConv2d(growthRate, { kernelSize: 3, padding: 1, bias: false }),
  );
}

/** A dense block of bottleneck layers (DenseNet-B). */
export class BottleneckDenseBlock extends DenseBlock {
  constructor(numConvs: number, growthRate: number, bnSize = 4) {
    super(numConvs, growthRate, (c) => bottleneckBlock(c, bnSize));
  }
}

/**
 * DenseNet-C's transition layer: BN-ReLU-Conv1x1 (no bias) to `numChannels`, 2x2 average pooling.
 * @example compressionTransition(128)
 */
export function compressionTransition(numChannels: number): Sequential {
  return new Sequential(
    new LazyBatchNorm2d(), new ReLU(),
    new LazyConv2d(numChannels, { kernelSize: 1, bias: false }),
    new AvgPool2d({ kernelSize: 2, stride: 2 }),
  );
}

/** Layers per dense block of the Table-1 variants. */
export const DENSENET_BC_ARCHS = {
  densenet121: [6, 12, 24, 16],
  densenet169: [6, 12, 32, 32],
  densenet201: [6, 12, 48, 32],
} as const satisfies Record<string, readonly number[]>;

/** Options of `DenseNetBC`. */
export interface DenseNetBCOptions extends ModelOptions {
  /** Bottleneck layers per dense block (e.g. `DENSENET_BC_ARCHS.densenet121`). */
  arch: readonly number[];
  /** k (default 32); the stem has 2k channels. */
  growthRate?: number;
  /** θ: transition layers keep floor(θ·m) of m channels (default 0.5). */
  compression?: number;
  /** Bottleneck width factor (default 4: 4k channels). */
  bnSize?: number;
}

/**
 * DenseNet-BC from Table 1 of Huang et al. 2017 (DenseNet-121/169/201): stem with 2k channels,
 * bottleneck dense blocks, compression transitions, the head. With 3 input channels and 1000
 * classes it has PyTorch's 7,978,856 (121), 14,149,480 (169), 20,013,928 (201) parameters.
 * @example new DenseNetBC({ arch: DENSENET_BC_ARCHS.densenet121, lr: 0.01 })
 */
export class DenseNetBC extends Classifier {
  /** Input channels this instance is meant for. */
  readonly inChannels: number;
  /** Layers per dense block. */
  readonly arch: readonly number[];
  /** Growth rate k. */
  readonly growthRate: number;
  /** Compression θ. */
  readonly compression: number;
  /** The layers. */
  net: Sequential;

  constructor(opts: DenseNetBCOptions) {
    super(opts);
    this.inChannels = inChannelsOf(opts, 'DenseNetBC');
    if (!Array.isArray(opts.arch) || opts.arch.length === 0) throw new Error('DenseNetBC: arch must be a non-empty list of layer counts');
    this.arch = opts.arch;
    this.growthRate = opts.growthRate ?? 32;
    this.compression = opts.compression ?? 0.5;
    if (!(this.compression > 0 && this.compression <= 1)) throw new Error(`DenseNetBC: compression must be in (0, 1], got ${this.compression}`);
    const bnSize = opts.bnSize ?? 4;
    let numChannels = 2 * this.growthRate;
    this.net = new Sequential(stem(numChannels, false));
    this.arch.forEach((numConvs, i) => {
      this.net.addModule(`dense_blk${i + 1}`, new BottleneckDenseBlock(numConvs, this.growthRate, bnSize));
      numChannels += numConvs * this.growthRate;
      if (i !== this.arch.length - 1) {
        numChannels = Math.floor(numChannels * this.compression);
        this.net.addModule(`tran_blk${i + 1}`, compressionTransition(numChannels));
      }
    });
    this.net.addModule('last', head(this.numClasses));
    initWeights(this.net, opts, 'DenseNetBC');
  }
}

/** DenseNet-121 (Table 1). @example densenet121({ numClasses: 10 }) */
export function densenet121(opts: ModelOptions = {}): DenseNetBC {
  return new DenseNetBC({ ...opts, arch: DENSENET_BC_ARCHS.densenet121 });
}

/** DenseNet-169 (Table 1). */
export function densenet169(opts: ModelOptions = {}): DenseNetBC {
  return new DenseNetBC({ ...opts, arch: DENSENET_BC_ARCHS.densenet169 });
}

/** DenseNet-201 (Table 1). */
export function densenet201(opts: ModelOptions = {}): DenseNetBC {
  return new DenseNetBC({ ...opts, arch: DENSENET_BC_ARCHS.densenet201 });
}
