/** Lecture section "Deep Convolutional Neural Networks (AlexNet)", cell by cell. */
// In [ ]: from d2l import torch as d2l / import torch / from torch import nn
import * as d2l from './d2l.js';
import * as nn from '../../src/nn/index.js';

// In [ ]: class AlexNet(d2l.Classifier)
/** The lecture's AlexNet. */
export class AlexNet extends d2l.Classifier {
  net: nn.Sequential;
  constructor({ lr = 0.1, numClasses = 10 } = {}) {
    super({ lr, numClasses }); // save_hyperparameters: lr and numClasses become fields
    this.net = new nn.Sequential(
      new nn.LazyConv2d(96, { kernelSize: 11, stride: 4, padding: 1 }),
      new nn.ReLU(), new nn.MaxPool2d({ kernelSize: 3, stride: 2 }),
      new nn.LazyConv2d(256, { kernelSize: 5, padding: 2 }), new nn.ReLU(),
      new nn.MaxPool2d({ kernelSize: 3, stride: 2 }),
      new nn.LazyConv2d(384, { kernelSize: 3, padding: 1 }), new nn.ReLU(),
      new nn.LazyConv2d(384, { kernelSize: 3, padding: 1 }), new nn.ReLU(),
      new nn.LazyConv2d(256, { kernelSize: 3, padding: 1 }), new nn.ReLU(),
      new nn.MaxPool2d({ kernelSize: 3, stride: 2 }), new nn.Flatten(),
      new nn.LazyLinear(4096), new nn.ReLU(), new nn.Dropout(0.5),
      new nn.LazyLinear(4096), new nn.ReLU(), new nn.Dropout(0.5),
      new nn.LazyLinear(numClasses));
    // As in PyTorch, init_cnn meets still-lazy layers here and does nothing: AlexNet trains from
    // the default init (the notebook never calls apply_init for it).
    this.net.apply(d2l.initCnn);
  }
}

/** Runs the section's cells. */
export async function run(): Promise<void> {
  const log = d2l.settings.log;
  log('\n## AlexNet\n');
  // In [ ]: AlexNet().layer_summary((1, 1, 224, 224))
  new AlexNet().layerSummary([1, 1, 224, 224], { log });

  // In [ ]: training cell
  const model = new AlexNet({ lr: 0.01 });
  const data = d2l.FashionMNIST({ batchSize: 128, resize: [224, 224] });
  const trainer = new d2l.Trainer({ maxEpochs: 10, numGpus: 1 });
  await trainer.fit(model, data);
}
