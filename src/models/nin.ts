/** Network in Network (Lin et al. 2013) as in the lecture: NiN blocks and global average pooling. */
import { Sequential, LazyConv2d, ReLU, MaxPool2d, Flatten, Dropout, AdaptiveAvgPool2d } from '../nn/index.js';
import { Classifier } from '../train/classifier.js';
import { inChannelsOf, initWeights, type ModelOptions } from './common.js';

/**
 * The lecture's `nin_block`: a convolution followed by two 1x1 convolutions, each with ReLU.
 * @example ninBlock(96, 11, 4, 0)
 */
export function ninBlock(outChannels: number, kernelSize: number, strides: number, padding: number): Sequential {
  return new Sequential(
    new LazyConv2d(outChannels, { kernelSize, stride: strides, padding }), new ReLU(),
    new LazyConv2d(outChannels, { kernelSize: 1 }), new ReLU(),
    new LazyConv2d(outChannels, { kernelSize: 1 }), new ReLU(),
  );
}

/**
 * The lecture's `NiN(d2l.Classifier)`: four NiN blocks (the last with `numClasses` channels),
 * max-pools, dropout, then global average pooling yields the logits; no dense layer.
 * @example new NiN().layerSummary([1, 1, 224, 224]);
 */
export class NiN extends Classifier {
  /** Input channels this instance is meant for. */
  readonly inChannels: number;
  /** The layers. */
  net: Sequential;

  constructor(opts: ModelOptions = {}) {
    super(opts);
    this.inChannels = inChannelsOf(opts, 'NiN');
    this.net = new Sequential(
      ninBlock(96, 11, 4, 0),
      new MaxPool2d(3, { stride: 2 }),
      ninBlock(256, 5, 1, 2),
      new MaxPool2d(3, { stride: 2 }),
      ninBlock(384, 3, 1, 1),
      new MaxPool2d(3, { stride: 2 }),
      new Dropout(0.5),
      ninBlock(this.numClasses, 3, 1, 1),
      new AdaptiveAvgPool2d([1, 1]),
      new Flatten(),
    );
    initWeights(this.net, opts, 'NiN');
  }
}
