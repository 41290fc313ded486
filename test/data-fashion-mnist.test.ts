/**
 * Fashion-MNIST from Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist).
 * The expected sums were computed once with numpy from the gz files:
 *   imgs = np.frombuffer(gzip.open(p).read(), np.uint8, offset=16).reshape(-1, 28, 28)
 *   labels = np.frombuffer(gzip.open(p).read(), np.uint8, offset=8)
 *   imgs.astype(np.int64).sum(), imgs[i].astype(np.int64).sum(), np.bincount(labels)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FashionMNIST, FashionMNISTData, loadFashionMnistSplit, FASHION_MNIST_LABELS } from '../src/data/index.js';

function sumU8(a: Uint8Array, start = 0, end = a.length): number {
  let s = 0;
  for (let i = start; i < end; i++) s += a[i]!;
  return s;
}

function histogram(labels: ArrayLike<number>, k = 10): number[] {
  const h = new Array<number>(k).fill(0);
  for (let i = 0; i < labels.length; i++) h[labels[i]!]!++;
  return h;
}

test('the raw splits: counts, label histograms, pixel sums', () => {
  const train = loadFashionMnistSplit('train');
  const val = loadFashionMnistSplit('test');
  assert.deepEqual([train.n, train.height, train.width], [60000, 28, 28]);
  assert.deepEqual([val.n, val.height, val.width], [10000, 28, 28]);
  assert.deepEqual(histogram(train.labels), new Array(10).fill(6000));
  assert.deepEqual(histogram(val.labels), new Array(10).fill(1000));
  assert.equal(sumU8(train.images), 3431114169);
  assert.equal(sumU8(val.images), 573469082);
  assert.equal(sumU8(train.images, 0, 784), 76247);
  assert.equal(sumU8(train.images, 784, 2 * 784), 84598);
  assert.equal(sumU8(train.images, 59999 * 784), 16684);
  assert.equal(sumU8(val.images, 0, 784), 33456);
  assert.equal(sumU8(val.images, 9999 * 784), 24390);
  assert.deepEqual(Array.from(train.labels.subarray(0, 10)), [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
  assert.deepEqual(Array.from(val.labels.subarray(0, 10)), [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
});

test("FashionMNIST as d2l's: defaults, labels, loaders", () => {
  const data = FashionMNIST({ numWorkers: 0, seed: 1 });
  assert.ok(data instanceof FashionMNISTData);
  assert.equal(data.batchSize, 64);
  assert.deepEqual(data.inputShape, [1, 28, 28]);
  assert.equal(data.numClasses, 10);
  assert.deepEqual(data.classNames, [...FASHION_MNIST_LABELS]);
  assert.deepEqual(data.classNames, ['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot']);
  assert.deepEqual(data.textLabels([9, 0, 3]), ['ankle boot', 't-shirt', 'dress']);
  assert.equal(data.train.length, 60000);
  assert.equal(data.val.length, 10000);
  assert.equal(data.getDataloader(true), data.trainLoader());
  assert.equal(data.trainLoader().length, 938);
  assert.equal(data.valLoader().len(), 157);
  // The validation loader is in order: its first batch is the first 64 test images, in [0, 1].
  const { x, y } = data.valLoader().firstBatch();
  assert.deepEqual(x.shape, [64, 1, 28, 28]);
  assert.equal(y.dtype, 'int32');
  assert.deepEqual(Array.from(y.toArray()).slice(0, 10), [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
  const px = x.toArray();
  let s0 = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < px.length; i++) {
    if (i < 784) s0 += px[i]!;
    min = Math.min(min, px[i]!);
    max = Math.max(max, px[i]!);
  }
  assert.ok(Math.abs(s0 * 255 - 33456) < 1e-2, `first test image sums to ${s0 * 255}`);
  assert.ok(min >= 0 && max <= 1 && max > 0.99);
  x.dispose();
  y.dispose();
  // `new` works too.
  assert.ok(new FashionMNIST({ numWorkers: 0 }) instanceof FashionMNISTData);
});

test("the lecture's resize=(224, 224), batch 128: shapes, and a full validation pass through a worker", () => {
  const data = FashionMNIST({ batchSize: 128, resize: [224, 224], numWorkers: 1, seed: 0 });
  assert.deepEqual(data.inputShape, [1, 224, 224]);
  assert.equal(data.trainLoader().length, 469);
  const first = data.trainLoader().firstBatch();
  assert.deepEqual(first.x.shape, [128, 1, 224, 224]);
  assert.deepEqual(first.y.shape, [128]);
  first.x.dispose();
  first.y.dispose();
  // A full pass of the 96-px validation set with one worker: every label once, 79 batches.
  const d96 = FashionMNIST({ batchSize: 128, resize: 96, numWorkers: 1 });
  const labels: number[] = [];
  let batches = 0;
  for (const { x, y } of d96.valLoader()) {
    assert.deepEqual(x.shape.slice(1), [1, 96, 96]);
    labels.push(...y.toArray());
    batches++;
    x.dispose();
    y.dispose();
  }
  assert.equal(batches, 79);
  assert.deepEqual(histogram(labels), new Array(10).fill(1000));
  assert.deepEqual(labels.slice(0, 10), [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
  assert.ok(d96.valLoader().waitSeconds >= 0);
});
