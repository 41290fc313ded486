/**
 * LeNet (d2l's) and the lecture's LeNet with batch normalization: from scratch (`BNLeNetScratch`,
 * with the lecture's `BatchNorm`) and concise (`BNLeNet`, with `LazyBatchNorm2d/1d`). 28x28 inputs.
 */
import { Sequential, LazyConv2d, Sigmoid, AvgPool2d, Flatten, LazyLinear, LazyBatchNorm2d, LazyBatchNorm1d, BatchNorm } from '../nn/index.js';
import { Classifier } from '../train/classifier.js';
import { inChannelsOf, initWeights, type ModelOptions } from './common.js';

/**
 * d2l's `LeNet` (LeNet-5 with sigmoid and average pooling; padding 2 on the first convolution).
 * Like d2l, the constructor leaves PyTorch's default init (unless `init: 'xavier'`); d2l's recipe
 * applies Xavier with `applyInit([batch], initCnn)`.
 * @example const model = new LeNet({ lr: 0.1 }); model.applyInit([x], nn.initCnn);
 */
export class LeNet extends Classifier {
  /** Input channels this instance is meant for. */
  readonly inChannels: number;
  /** The layers. */
  net: Sequential;

  constructor(opts: ModelOptions = {}) {
    super(opts);
    this.inChannels = inChannelsOf(opts, 'LeNet');
    this.net = new Sequential(
      new LazyConv2d(6, { kernelSize: 5, padding: 2 }), new Sigmoid(),
      new AvgPool2d({ kernelSize: 2, stride: 2 }),
      new LazyConv2d(16, { kernelSize: 5 }), new Sigmoid(),
      new AvgPool2d({ kernelSize: 2, stride: 2 }),
      new Flatten(),
      new LazyLinear(120), new Sigmoid(),
      new LazyLinear(84), new Sigmoid(),
      new LazyLinear(this.numClasses),
    );
    initWeights(this.net, opts, new.target.name);
  }
}

/**
 * The lecture's `BNLeNetScratch`: LeNet with the from-scratch `BatchNorm` after every convolution
 * and dense layer (before the sigmoid). `net.at(1)` is the first `BatchNorm` (its `gamma`/`beta`).
 * @example const model = new BNLeNetScratch({ lr: 0.1 });
 */
export class BNLeNetScratch extends Classifier {
  /** Input channels this instance is meant for. */
  readonly inChannels: number;
  /** The layers. */
  net: Sequential;

  constructor(opts: ModelOptions = {}) {
    super(opts);
    this.inChannels = inChannelsOf(opts, 'BNLeNetScratch');
    this.net = new Sequential(
      new LazyConv2d(6, { kernelSize: 5 }), new BatchNorm(6, 4),
      new Sigmoid(), new AvgPool2d({ kernelSize: 2, stride: 2 }),
      new LazyConv2d(16, { kernelSize: 5 }), new BatchNorm(16, 4),
      new Sigmoid(), new AvgPool2d({ kernelSize: 2, stride: 2 }),
      new Flatten(), new LazyLinear(120),
      new BatchNorm(120, 2), new Sigmoid(), new LazyLinear(84),
      new BatchNorm(84, 2), new Sigmoid(),
      new LazyLinear(this.numClasses),
    );
    initWeights(this.net, opts, new.target.name);
  }
}

/**
 * The lecture's concise `BNLeNet`: the same network with the framework's `LazyBatchNorm2d` /
 * `LazyBatchNorm1d`.
 * @example const model = new BNLeNet({ lr: 0.1 });
 */
export class BNLeNet extends Classifier {
  /** Input channels this instance is meant for. */
  readonly inChannels: number;
  /** The layers. */
  net: Sequential;

  constructor(opts: ModelOptions = {}) {
    super(opts);
    this.inChannels = inChannelsOf(opts, 'BNLeNet');
    this.net = new Sequential(
      new LazyConv2d(6, { kernelSize: 5 }), new LazyBatchNorm2d(),
      new Sigmoid(), new AvgPool2d({ kernelSize: 2, stride: 2 }),
      new LazyConv2d(16, { kernelSize: 5 }), new LazyBatchNorm2d(),
      new Sigmoid(), new AvgPool2d({ kernelSize: 2, stride: 2 }),
      new Flatten(), new LazyLinear(120), new LazyBatchNorm1d(),
      new Sigmoid(), new LazyLinear(84), new LazyBatchNorm1d(),
      new Sigmoid(), new LazyLinear(this.numClasses),
    );
    initWeights(this.net, opts, new.target.name);
  }
}
