/** Lecture section "Network in Network (NiN)", cell by cell. */
// In [ ]: from d2l import torch as d2l / import torch / from torch import nn
import * as d2l from './d2l.js';
import * as nn from '../../src/nn/index.js';
import { dispose } from '../../src/tensor/index.js';

// In [ ]: def nin_block(out_channels, kernel_size, strides, padding)
/** The lecture's `nin_block`. */
export function ninBlock(outChannels: number, kernelSize: number, strides: number, padding: number): nn.Sequential {
  return new nn.Sequential(
    new nn.LazyConv2d(outChannels, kernelSize, { stride: strides, padding }), new nn.ReLU(),
    new nn.LazyConv2d(outChannels, { kernelSize: 1 }), new nn.ReLU(),
    new nn.LazyConv2d(outChannels, { kernelSize: 1 }), new nn.ReLU());
}

// In [ ]: class NiN(d2l.Classifier)
/** The lecture's NiN. */
export class NiN extends d2l.Classifier {
  net: nn.Sequential;
  constructor({ lr = 0.1, numClasses = 10 } = {}) {
    super({ lr, numClasses });
    this.net = new nn.Sequential(
      ninBlock(96, 11, 4, 0),
      new nn.MaxPool2d(3, { stride: 2 }),
      ninBlock(256, 5, 1, 2),
      new nn.MaxPool2d(3, { stride: 2 }),
      ninBlock(384, 3, 1, 1),
      new nn.MaxPool2d(3, { stride: 2 }),
      new nn.Dropout(0.5),
      ninBlock(numClasses, 3, 1, 1),
      new nn.AdaptiveAvgPool2d([1, 1]),
      new nn.Flatten());
    this.net.apply(d2l.initCnn);
  }
}

/** Runs the section's cells. */
export async function run(): Promise<void> {
  const log = d2l.settings.log;
  log('\n## NiN\n');
  // In [ ]: NiN().layer_summary((1, 1, 224, 224))
  new NiN().layerSummary([1, 1, 224, 224], { log });

  // In [ ]: training cell
  const model = new NiN({ lr: 0.05 });
  const trainer = new d2l.Trainer({ maxEpochs: 10, numGpus: 1 });
  const data = d2l.FashionMNIST({ batchSize: 128, resize: [224, 224] });
  const batch = d2l.nextBatch(data.getDataloader(true));
  model.applyInit([batch.x], d2l.initCnn);
  dispose(batch);
  await trainer.fit(model, data);
}
