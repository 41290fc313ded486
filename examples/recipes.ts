/**
 * The training recipes from code: BN-LeNet on Fashion-MNIST with augmentation, label smoothing,
 * SGD with momentum under a cosine schedule, d2l's apply_init, the live dashboard and the curves
 * figure — what `convnet train bnlenet --augment default --label-smoothing 0.1 --momentum 0.9
 * --lr-schedule cosine --dashboard` does, written with the library.
 *
 *   node dist/examples/recipes.js [--epochs 2] [--limit 100]   # --limit: training batches per epoch
 */
import * as cn from '../src/index.js';
import type { BatchEvent, EpochEvent, EpochRecord } from '../src/train/index.js';

const { data, models, nn, optim, train, viz } = cn;
const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const epochs = arg('epochs', 2);
const limit = arg('limit', 0);

cn.manualSeed(0);
const fm = data.FashionMNIST({
  batchSize: 128,
  seed: 0,
  augment: [data.horizontalFlip(), data.randomResizedCrop(28, { scale: [0.64, 1] }), data.colorJitter({ brightness: 0.2, contrast: 0.2 })],
});
const model = models.createModel('bnlenet', { labelSmoothing: 0.1 });
// d2l's apply_init: one forward on a training batch (training mode), then Xavier.
const first = fm.getDataloader(true).firstBatch();
model.applyInit([first.x], nn.initCnn);
cn.dispose([first.x, first.y]);

const opt = new optim.SGD({ params: model.parameters(), lr: 0.1, momentum: 0.9 });
const sched = new optim.CosineAnnealingLR(opt, { tMax: epochs });
const dash = new viz.Dashboard({ title: 'BN-LeNet recipes', maxEpochs: epochs });
console.log(`live curves on ${await dash.start()}`);

const trainer = new train.Trainer({ maxEpochs: epochs, plotTrainPerEpoch: 10, log: true, ...(limit > 0 ? { limitTrainBatches: limit } : {}) });
const records: EpochRecord[] = [];
trainer.on('batch', (e: BatchEvent) => dash.update(records, e));
trainer.on('epoch', (e: EpochEvent) => {
  records.push(e.record);
  dash.update(records);
});
await trainer.fit(model, fm, { optimizer: opt, scheduler: sched });
await dash.close();
await viz.svgToPng(viz.curvesSvg(records, { title: 'BN-LeNet', maxEpochs: epochs }), 'recipes-curves.png');
console.log('wrote recipes-curves.png');
