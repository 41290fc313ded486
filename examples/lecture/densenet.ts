/** Lecture section "Densely Connected Networks (DenseNet)", cell by cell. */
// In [ ]: from d2l import torch as d2l / import torch / from torch import nn
import * as d2l from './d2l.js';
import * as nn from '../../src/nn/index.js';
import * as cn from '../../src/index.js';
import type { Tensor } from '../../src/index.js';

// In [ ]: def conv_block(num_channels)
/** The lecture's `conv_block`. */
export function convBlock(numChannels: number): nn.Sequential {
  return new nn.Sequential(
    new nn.LazyBatchNorm2d(), new nn.ReLU(),
    new nn.LazyConv2d(numChannels, { kernelSize: 3, padding: 1 }));
}

// In [ ]: class DenseBlock(nn.Module)
/** The lecture's `DenseBlock`. */
export class DenseBlock extends nn.Module {
  net: nn.Sequential;
  constructor(numConvs: number, numChannels: number) {
    super();
    const layer: nn.Module[] = [];
    for (let i = 0; i < numConvs; i++) layer.push(convBlock(numChannels));
    this.net = new nn.Sequential(...layer);
  }

  override forward(X: Tensor): Tensor {
    for (const blk of this.net) {
      const Y = blk.call(X);
      // Concatenate input and output of each block along the channels
      X = cn.cat([X, Y], 1);
    }
    return X;
  }
}

// In [ ]: def transition_block(num_channels)
/** The lecture's `transition_block`. */
export function transitionBlock(numChannels: number): nn.Sequential {
  return new nn.Sequential(
    new nn.LazyBatchNorm2d(), new nn.ReLU(),
    new nn.LazyConv2d(numChannels, { kernelSize: 1 }),
    new nn.AvgPool2d({ kernelSize: 2, stride: 2 }));
}

// In [ ]: class DenseNet(d2l.Classifier): def b1(self)
// In [ ]: @d2l.add_to_class(DenseNet) def __init__(...)  (one class body in TypeScript)
/** The lecture's DenseNet. */
export class DenseNet extends d2l.Classifier {
  net: nn.Sequential;

  b1(): nn.Sequential {
    return new nn.Sequential(
      new nn.LazyConv2d(64, { kernelSize: 7, stride: 2, padding: 3 }),
      new nn.LazyBatchNorm2d(), new nn.ReLU(),
      new nn.MaxPool2d({ kernelSize: 3, stride: 2, padding: 1 }));
  }

  constructor({ numChannels = 64, growthRate = 32, arch = [4, 4, 4, 4], lr = 0.1, numClasses = 10 } = {}) {
    super({ lr, numClasses });
    this.net = new nn.Sequential(this.b1());
    arch.forEach((numConvs, i) => {
      this.net.addModule(`dense_blk${i + 1}`, new DenseBlock(numConvs, growthRate));
      // The number of output channels in the previous dense block
      numChannels += numConvs * growthRate;
      // A transition layer that halves the number of channels is added between the dense blocks
      if (i !== arch.length - 1) {
        numChannels = Math.floor(numChannels / 2);
        this.net.addModule(`tran_blk${i + 1}`, transitionBlock(numChannels));
      }
    });
    this.net.addModule('last', new nn.Sequential(
      new nn.LazyBatchNorm2d(), new nn.ReLU(),
      new nn.AdaptiveAvgPool2d([1, 1]), new nn.Flatten(),
      new nn.LazyLinear(numClasses)));
    // A no-op on still-lazy layers, as in PyTorch: DenseNet trains from the default init.
    this.net.apply(d2l.initCnn);
  }
}

/** Runs the section's cells. */
export async function run(): Promise<void> {
  const log = d2l.settings.log;
  log('\n## DenseNet\n');
  // In [ ]: blk = DenseBlock(2, 10); X = torch.randn(4, 3, 8, 8); Y = blk(X); Y.shape
  let blk: nn.Module = new DenseBlock(2, 10);
  const X = cn.randn([4, 3, 8, 8]);
  const Y = blk.call(X);
  log(`[${Y.shape.join(', ')}]`);

  // In [ ]: blk = transition_block(10); blk(Y).shape
  blk = transitionBlock(10);
  log(`[${blk.call(Y).shape.join(', ')}]`);

  // In [ ]: training cell
  const model = new DenseNet({ lr: 0.01 });
  const trainer = new d2l.Trainer({ maxEpochs: 10, numGpus: 1 });
  const data = d2l.FashionMNIST({ batchSize: 128, resize: [96, 96] });
  await trainer.fit(model, data);
}
