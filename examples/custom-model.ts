/**
 * A custom model, end to end: define a network as a `Classifier`, load data (Fashion-MNIST, or your
 * own images in an ImageFolder), train it with the `Trainer`, save the weights and classify a few
 * validation images. It imports the package by its name, as your code will; README.md shows it, and
 * test/examples.test.ts runs it.
 *
 *   node dist/examples/custom-model.js                        # Fashion-MNIST (Debian's dataset-fashion-mnist)
 *   node dist/examples/custom-model.js --data micrographs/    # your images: one sub-folder per class
 *   node dist/examples/custom-model.js --epochs 1 --limit-batches 20 --out /tmp/small-vgg.safetensors
 */
import { parseArgs } from 'node:util';
import * as cn from 'convnet';

const { nn, data, train } = cn;

/** A small VGG-style network: two conv / batch-norm / ReLU / max-pool blocks, then two linear layers. */
class SmallVgg extends train.Classifier {
  net: cn.nn.Sequential;

  constructor(opts: cn.train.ClassifierOptions = {}) {
    super(opts); // lr, numClasses
    const block = (channels: number): cn.nn.Module[] => [
      new nn.LazyConv2d(channels, { kernelSize: 3, padding: 1 }),
      new nn.LazyBatchNorm2d(),
      new nn.ReLU(),
      new nn.MaxPool2d(2),
    ];
    this.net = new nn.Sequential(
      ...block(16),
      ...block(32),
      new nn.Flatten(),
      new nn.LazyLinear(128),
      new nn.ReLU(),
      new nn.Dropout(0.3),
      new nn.LazyLinear(this.numClasses),
    );
  }
}

const { values } = parseArgs({
  options: {
    data: { type: 'string' }, // an image folder; default: Fashion-MNIST
    epochs: { type: 'string', default: '2' },
    'limit-batches': { type: 'string' }, // train / validate on the first N batches of each epoch
    out: { type: 'string', default: 'small-vgg.safetensors' },
  },
});

// 28x28 grey images either way, batches of 128, seeded shuffles (and a seeded 80/20 split of the folder).
const dm =
  values.data === undefined
    ? data.FashionMNIST({ batchSize: 128, seed: 0 })
    : await data.ImageFolder({ root: values.data, resize: 28, channels: 1, valFraction: 0.2, batchSize: 128, seed: 0 });
console.log(`backend ${cn.getBackend().name}; ${dm.classNames.length} classes: ${dm.classNames.join(', ')}`);

cn.manualSeed(0); // the initial weights and dropout masks
const model = new SmallVgg({ lr: 0.05, numClasses: dm.numClasses });
// d2l's apply_init: one batch fixes the lazy layers' shapes, then Xavier init (d2l's init_cnn).
const first = dm.trainLoader().firstBatch();
model.applyInit([first.x], nn.initCnn);
cn.dispose([first.x, first.y]);
model.layerSummary([1, ...dm.inputShape]); // output shape and parameters of each layer

const limit = values['limit-batches'] === undefined ? undefined : Number(values['limit-batches']);
const trainer = new train.Trainer({ maxEpochs: Number(values.epochs), limitTrainBatches: limit, limitValBatches: limit, log: true });
const records = await trainer.fit(model, dm); // minibatch SGD (model.configureOptimizers()); one line per epoch
const last = records.at(-1)!;
console.log(`final: train loss ${last.trainLoss.toFixed(4)}, val acc ${last.valAcc.toFixed(4)}`);

// The weights with PyTorch's names (net.0.weight, ...): torch's safetensors.torch.load_file reads them.
cn.io.saveSafetensors(values.out, model.stateDict());
console.log(`weights: ${values.out}`);

// Classify a few validation images (fit leaves the model in eval mode: batch norm uses its running statistics).
const batch = dm.valLoader().firstBatch();
const predicted = cn.tidy(() => cn.noGrad(() => model.call(batch.x).argmax(1).toArray()));
const truth = batch.y.toArray();
for (let i = 0; i < Math.min(5, truth.length); i++) {
  console.log(`image ${i}: predicted ${dm.classNames[predicted[i]!]}, true ${dm.classNames[truth[i]!]}`);
}
cn.dispose([batch.x, batch.y]);
