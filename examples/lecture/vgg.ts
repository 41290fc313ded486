/** Lecture section "Networks Using Blocks (VGG)", cell by cell. */
// In [ ]: from d2l import torch as d2l / import torch / from torch import nn
import * as d2l from './d2l.js';
import * as nn from '../../src/nn/index.js';
import { dispose } from '../../src/tensor/index.js';

// In [ ]: def vgg_block(num_convs, out_channels)
/** The lecture's `vgg_block`. */
export function vggBlock(numConvs: number, outChannels: number): nn.Sequential {
  const layers: nn.Module[] = [];
  for (let i = 0; i < numConvs; i++) {
    layers.push(new nn.LazyConv2d(outChannels, { kernelSize: 3, padding: 1 }));
    layers.push(new nn.ReLU());
  }
  layers.push(new nn.MaxPool2d({ kernelSize: 2, stride: 2 }));
  return new nn.Sequential(...layers);
}

// In [ ]: class VGG(d2l.Classifier)
/** The lecture's VGG. */
export class VGG extends d2l.Classifier {
  net: nn.Sequential;
  constructor({ arch, lr = 0.1, numClasses = 10 }: { arch: readonly (readonly [number, number])[]; lr?: number; numClasses?: number }) {
    super({ lr, numClasses });
    const convBlks: nn.Module[] = [];
    for (const [numConvs, outChannels] of arch) convBlks.push(vggBlock(numConvs, outChannels));
    this.net = new nn.Sequential(
      ...convBlks, new nn.Flatten(),
      new nn.LazyLinear(4096), new nn.ReLU(), new nn.Dropout(0.5),
      new nn.LazyLinear(4096), new nn.ReLU(), new nn.Dropout(0.5),
      new nn.LazyLinear(numClasses));
    this.net.apply(d2l.initCnn);
  }
}

/** Runs the section's cells. */
export async function run(): Promise<void> {
  const log = d2l.settings.log;
  log('\n## VGG\n');
  // In [ ]: VGG(arch=((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))).layer_summary((1, 1, 224, 224))
  const vgg11 = new VGG({ arch: [[1, 64], [1, 128], [2, 256], [2, 512], [2, 512]] });
  vgg11.layerSummary([1, 1, 224, 224], { log });
  dispose(Object.values(vgg11.stateDict())); // 129M parameters: free them before training

  // In [ ]: training cell
  const model = new VGG({ arch: [[1, 16], [1, 32], [2, 64], [2, 128], [2, 128]], lr: 0.01 });
  const trainer = new d2l.Trainer({ maxEpochs: 10, numGpus: 1 });
  const data = d2l.FashionMNIST({ batchSize: 128, resize: [224, 224] });
  const batch = d2l.nextBatch(data.getDataloader(true));
  model.applyInit([batch.x], d2l.initCnn);
  dispose(batch);
  await trainer.fit(model, data);
}
