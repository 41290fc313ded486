/**
 * Quick-start demo: trains a tiny LeNet-style conv net with autograd on real Fashion-MNIST
 * (Debian's dataset-fashion-mnist) and prints loss, validation accuracy and throughput per epoch.
 *
 *   node dist/examples/demo-train.js [--epochs 2] [--limit 60000] [--batch-size 128] [--lr 0.1]
 *                                    [--backend native|reference] [--seed 0]
 */
import * as cn from '../src/index.js';
import type { Tensor } from '../src/index.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const epochs = Number(flag('epochs', '2'));
const limit = Number(flag('limit', '60000'));
const batchSize = Number(flag('batch-size', '128'));
const lr = Number(flag('lr', '0.1'));
const seed = Number(flag('seed', '0'));
const backendFlag = flag('backend', '');
if (backendFlag === 'native' || backendFlag === 'reference') cn.setBackend(backendFlag);
for (const [k, v] of Object.entries({ epochs, limit, batchSize, lr })) {
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`demo-train: --${k} must be a positive number`);
    process.exit(2);
  }
}

cn.manualSeed(seed);
const train = cn.data.loadFashionMnistSplit('train');
const test = cn.data.loadFashionMnistSplit('test');
const nTrain = Math.min(limit, train.n);
const pixels = train.height * train.width;

/** Kaiming-uniform weights as PyTorch's default conv/linear init (bound = 1/sqrt(fanIn) for bias). */
function param(shape: number[], fanIn: number, isBias: boolean): Tensor {
  const bound = isBias ? 1 / Math.sqrt(fanIn) : Math.sqrt(6 / ((1 + 5) * fanIn));
  const p = cn.rand(shape).mul(2 * bound).sub(bound).detach();
  p.requiresGrad = true;
  return p.keep();
}

const params = {
  w1: param([8, 1, 5, 5], 25, false),
  b1: param([8], 25, true),
  w2: param([16, 8, 5, 5], 200, false),
  b2: param([16], 200, true),
  w3: param([10, 256], 256, false),
  b3: param([10], 256, true),
};

function forward(x: Tensor): Tensor {
  let h = cn.maxPool2d(cn.conv2d(x, params.w1, params.b1).relu(), { kernelSize: 2 });
  h = cn.maxPool2d(cn.conv2d(h, params.w2, params.b2).relu(), { kernelSize: 2 });
  return cn.linear(h.reshape([h.shape[0]!, -1]), params.w3, params.b3);
}

function batch(split: cn.data.FashionMnistSplit, idx: ArrayLike<number>, from: number, to: number): { x: Tensor; y: Tensor } {
  const n = to - from;
  const xs = new Float32Array(n * pixels);
  const ys = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const j = idx[from + i]!;
    for (let p = 0; p < pixels; p++) xs[i * pixels + p] = split.images[j * pixels + p]! / 255;
    ys[i] = split.labels[j]!;
  }
  return {
    x: cn.tensor(xs, { shape: [n, 1, split.height, split.width] }),
    y: cn.tensor(ys, { shape: [n], dtype: 'int32' }),
  };
}

const gen = new cn.Generator(seed);
const testIdx = Array.from({ length: test.n }, (_, i) => i);
console.log(`demo-train: backend ${cn.getBackend().name}, ${nTrain} training images, batch ${batchSize}, lr ${lr}`);
for (let epoch = 1; epoch <= epochs; epoch++) {
  const order = gen.permutation(train.n).subarray(0, nTrain);
  const t0 = performance.now();
  let lossSum = 0;
  let steps = 0;
  for (let from = 0; from + batchSize <= nTrain; from += batchSize) {
    lossSum += cn.tidy(() => {
      const { x, y } = batch(train, order, from, from + batchSize);
      const loss = cn.crossEntropy(forward(x), y);
      loss.backward();
      cn.noGrad(() => {
        for (const p of Object.values(params)) {
          p.assign(p.sub(p.grad!.mul(lr)));
          p.grad!.dispose();
          p.grad = null;
        }
      });
      return loss.item();
    });
    steps++;
  }
  const seconds = (performance.now() - t0) / 1000;
  let correct = 0;
  cn.noGrad(() => {
    for (let from = 0; from < test.n; from += 1000) {
      correct += cn.tidy(() => {
        const { x } = batch(test, testIdx, from, Math.min(from + 1000, test.n));
        const pred = forward(x).argmax(1).toArray();
        let c = 0;
        for (let i = 0; i < pred.length; i++) if (pred[i] === test.labels[from + i]) c++;
        return c;
      });
    }
  });
  console.log(
    `epoch ${epoch}: train loss ${(lossSum / steps).toFixed(4)}, val acc ${(correct / test.n).toFixed(4)}, ` +
      `${((steps * batchSize) / seconds).toFixed(0)} images/s, ${seconds.toFixed(1)} s`,
  );
}
