/**
 * The d2l workflow: `Classifier` (loss, accuracy, layerSummary, applyInit, configureOptimizers) and
 * `Trainer` (loss decreases, seeded runs are identical on the reference backend, gradient clipping,
 * flat memory, events) on a tiny synthetic dataset.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as cn from '../src/index.js';
import type { Tensor } from '../src/index.js';
import * as nn from '../src/nn/index.js';
import { SGD } from '../src/optim/index.js';
import {
  Classifier,
  Trainer,
  clipGradNorm,
  type Batch,
  type ClassifierOptions,
  type DataModuleLike,
  type EpochRecord,
  type BatchEvent,
  type TrainerEvent,
} from '../src/train/index.js';

/** A small conv net over 1x8x8 images. */
class TinyNet extends Classifier {
  net: nn.Sequential;
  constructor(opts: ClassifierOptions = {}) {
    super({ numClasses: 3, ...opts });
    this.net = new nn.Sequential(
      new nn.LazyConv2d(4, { kernelSize: 3, padding: 1 }),
      new nn.LazyBatchNorm2d(),
      new nn.ReLU(),
      new nn.MaxPool2d({ kernelSize: 2, stride: 2 }),
      new nn.Flatten(),
      new nn.LazyLinear(this.numClasses),
    );
    this.net.apply(nn.initCnn);
  }
}

/**
 * Three classes of 8x8 images: a bright row (class 0), a bright column (1) or a bright diagonal
 * (2) at a random position, plus noise. Batches are fresh tensors; training batches are shuffled
 * with a generator seeded from the global one at each pass (so the trainer's seed fixes them).
 */
class ToyData implements DataModuleLike {
  readonly x: Float32Array;
  readonly y: Int32Array;
  constructor(
    readonly n: number,
    readonly batchSize: number,
    seed = 1,
  ) {
    const g = new cn.Generator(seed);
    this.x = new Float32Array(n * 64);
    this.y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const c = i % 3;
      const k = g.randint(8);
      this.y[i] = c;
      for (let p = 0; p < 64; p++) {
        const r = Math.floor(p / 8);
        const q = p % 8;
        const on = c === 0 ? r === k : c === 1 ? q === k : r === q;
        this.x[i * 64 + p] = (on ? 1 : 0) + 0.3 * g.normal();
      }
    }
  }
  #batch(idx: Int32Array): Batch {
    const xs = new Float32Array(idx.length * 64);
    const ys = new Int32Array(idx.length);
    idx.forEach((j, i) => {
      xs.set(this.x.subarray(j * 64, j * 64 + 64), i * 64);
      ys[i] = this.y[j]!;
    });
    return { x: cn.tensor(xs, { shape: [idx.length, 1, 8, 8] }), y: cn.tensor(ys, { shape: [idx.length], dtype: 'int32' }) };
  }
  /** Batches made lazily, one at a time, as a real loader does. */
  #pass(order: Int32Array): Iterable<Batch> & { length: number } {
    const self = this;
    return {
      length: Math.ceil(order.length / this.batchSize),
      *[Symbol.iterator]() {
        for (let s = 0; s < order.length; s += self.batchSize) yield self.#batch(order.subarray(s, s + self.batchSize));
      },
    };
  }
  trainLoader(): Iterable<Batch> & { length: number } {
    return this.#pass(new cn.Generator(cn.defaultGenerator.nextUint32()).permutation(this.n));
  }
  valLoader(): Iterable<Batch> {
    return this.#pass(Int32Array.from({ length: this.n }, (_, i) => i));
  }
}

function fitOnce(seed: number, opts: { epochs: number; clip?: number } = { epochs: 3 }): Promise<EpochRecord[]> {
  cn.manualSeed(seed);
  const model = new TinyNet({ lr: 0.1 });
  const data = new ToyData(96, 16);
  const trainer = new Trainer({ maxEpochs: opts.epochs, seed, gradientClipVal: opts.clip });
  return trainer.fit(model, data);
}

test('layerSummary prints d2l lines and returns rows with shapes, params and FLOPs', () => {
  cn.manualSeed(0);
  const lines: string[] = [];
  const rows = new TinyNet().layerSummary([1, 1, 8, 8], { log: (l) => lines.push(l) });
  assert.deepEqual(
    rows.map((r) => [r.name, r.type, r.outputShape, r.params, r.flops]),
    [
      ['0', 'Conv2d', [1, 4, 8, 8], 40, 2 * 4 * 64 * 9],
      ['1', 'BatchNorm2d', [1, 4, 8, 8], 8, 2 * 256],
      ['2', 'ReLU', [1, 4, 8, 8], 0, 0],
      ['3', 'MaxPool2d', [1, 4, 4, 4], 0, 64 * 4],
      ['4', 'Flatten', [1, 64], 0, 0],
      ['5', 'Linear', [1, 3], 195, 2 * 3 * 64],
    ],
  );
  assert.equal(lines[0], 'Conv2d output shape:\t [1, 4, 8, 8]\tparams: 40');
  assert.equal(lines[4], 'Flatten output shape:\t [1, 64]\tparams: 0');
  assert.match(lines.at(-1)!, /^Total params: 243\t/);
  assert.equal(lines.length, 7);
});

test('loss, accuracy and configureOptimizers follow d2l', () => {
  const model = new TinyNet({ lr: 0.05 });
  const yHat = cn.tensor([
    [2, 1, 0],
    [0, 3, 1],
    [1, 0, 0.5],
    [0, 0, 1],
  ]);
  const y = cn.tensor([0, 2, 0, 2], { dtype: 'int32' });
  assert.ok(Math.abs(model.accuracy(yHat, y).item() - 0.75) < 1e-6);
  assert.deepEqual([...model.accuracy(yHat, y, { averaged: false }).toArray()], [1, 0, 1, 1]);
  const loss = model.loss(yHat, y).item();
  const ce = (row: number[], t: number): number => Math.log(row.reduce((s, v) => s + Math.exp(v), 0)) - row[t]!;
  const expected = (ce([2, 1, 0], 0) + ce([0, 3, 1], 2) + ce([1, 0, 0.5], 0) + ce([0, 0, 1], 2)) / 4;
  assert.ok(Math.abs(loss - expected) < 1e-5, `${loss} vs ${expected}`);
  model.materialize([2, 1, 8, 8]);
  const opt = model.configureOptimizers();
  assert.ok(opt instanceof SGD);
  assert.equal(opt.paramGroups[0]!.lr, 0.05);
});

test("applyInit is d2l's apply_init: a forward in the current (training) mode, then the init on the materialized layers", () => {
  const model = new TinyNet();
  assert.ok(model.hasUninitializedParameters());
  // d2l's init_cnn meets still-lazy layers in the constructor: PyTorch's default init is kept.
  let calls = 0;
  const x = cn.tensor(Array.from({ length: 2 * 64 }, (_, i) => (i % 7) / 7), { shape: [2, 1, 8, 8] });
  model.applyInit([x], (m) => {
    if (m instanceof nn.Linear) {
      calls++;
      nn.init.constant(m.weight, 0.5);
    }
  });
  assert.ok(!model.hasUninitializedParameters());
  assert.equal(calls, 1);
  const w = (model.net.at(5) as nn.Linear).weight.toArray();
  assert.ok(w.every((v) => v === 0.5));
  // A fresh model is in training mode: the batch moved the BatchNorm statistics, as in PyTorch
  // (running_mean = 0.1 * batch mean of the conv output), and counted one batch.
  assert.equal(model.training, true);
  const bn = model.net.at(1) as nn.BatchNorm2d;
  const conv = model.net.at(0) as nn.Conv2d;
  const expected = cn.noGrad(() => conv.call(x).mean([0, 2, 3]).mul(0.1).toArray());
  const got = bn.runningMean!.toArray();
  expected.forEach((v, i) => assert.ok(Math.abs(got[i]! - v) < 1e-6, `running_mean[${i}] ${got[i]} vs ${v}`));
  assert.equal(bn.numBatchesTracked, 1);
  // In eval mode (d2l uses the mode the model is in) nothing moves.
  const evalModel = new TinyNet().eval();
  evalModel.applyInit([x]);
  assert.ok((evalModel.net.at(1) as nn.BatchNorm2d).runningMean!.toArray().every((v) => v === 0));
  assert.equal(evalModel.training, false);
});

test('materialize gives the lazy layers their shapes without moving any statistic, and restores the mode flags', () => {
  const model = new TinyNet();
  model.net.at(2)!.eval(); // a submodule in eval mode on purpose stays so
  model.materialize([1, 1, 8, 8]);
  assert.ok(!model.hasUninitializedParameters());
  assert.equal(model.training, true);
  assert.equal(model.net.at(2)!.training, false);
  assert.equal(model.net.at(1)!.training, true);
  const bn = model.net.at(1) as nn.BatchNorm2d;
  assert.ok(bn.runningMean!.toArray().every((v) => v === 0));
  assert.equal(bn.numBatchesTracked, 0);
  assert.deepEqual((model.net.at(5) as nn.Linear).weight.shape, [3, 64]);
});

test('Trainer.fit decreases the loss and reports records and events', async () => {
  cn.manualSeed(0);
  const model = new TinyNet({ lr: 0.1 });
  const data = new ToyData(96, 16);
  const events: TrainerEvent[] = [];
  const trainer = new Trainer({ maxEpochs: 4, seed: 0, logEvery: 1, onEvent: (e) => events.push(e) });
  let epochEvents = 0;
  trainer.on('epoch', () => epochEvents++);
  const records = await trainer.fit(model, data);
  assert.equal(records.length, 4);
  assert.equal(epochEvents, 4);
  const batches = events.filter((e) => e.type === 'batch');
  assert.equal(batches.length, 4 * 6);
  const first = batches[0]!;
  assert.ok(first.type === 'batch' && first.numBatches === 6 && first.batch === 1 && first.images === 16);
  assert.equal(events.at(-1)!.type, 'end');
  for (const r of records) {
    assert.equal(r.trainImages, 96);
    assert.ok(r.imagesPerSec > 0 && r.seconds >= r.trainSeconds);
    assert.ok(Number.isFinite(r.trainLoss) && Number.isFinite(r.valLoss));
  }
  assert.ok(records[3]!.trainLoss < records[0]!.trainLoss * 0.8, `loss ${records[0]!.trainLoss} -> ${records[3]!.trainLoss}`);
  assert.ok(records[3]!.valAcc > 0.6, `val acc ${records[3]!.valAcc}`);
  assert.equal(model.training, false, 'fit leaves the model in eval mode');
});

test('logEvery: losses are read back in bulk every N batches; the events carry their weighted means', async () => {
  const run = async (logEvery: number): Promise<{ events: TrainerEvent[]; records: EpochRecord[] }> => {
    cn.manualSeed(0);
    const model = new TinyNet({ lr: 0.1 });
    const events: TrainerEvent[] = [];
    const records = await new Trainer({ maxEpochs: 2, seed: 0, logEvery, onEvent: (e) => events.push(e) }).fit(model, new ToyData(96, 16));
    return { events, records };
  };
  const every = await run(1);
  const bulk = await run(4);
  const batchesOf = (r: { events: TrainerEvent[] }): BatchEvent[] => r.events.filter((e): e is BatchEvent => e.type === 'batch');
  // 6 batches per epoch: reads after batches 4 and 6 (the epoch's end) in each epoch.
  assert.deepEqual(
    batchesOf(bulk).map((e) => [e.epoch, e.batch, e.images]),
    [[1, 4, 64], [1, 6, 96], [2, 4, 64], [2, 6, 96]],
  );
  // The same training (reading less often changes nothing): equal losses, and each bulk event's loss
  // is the mean of the per-batch losses it covers (equal batch sizes).
  assert.deepEqual(bulk.records.map((r) => r.trainLoss), every.records.map((r) => r.trainLoss));
  const per = batchesOf(every).map((e) => e.loss);
  const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / a.length;
  const want = [mean(per.slice(0, 4)), mean(per.slice(4, 6)), mean(per.slice(6, 10)), mean(per.slice(10, 12))];
  batchesOf(bulk).forEach((e, i) => assert.ok(Math.abs(e.loss - want[i]!) < 1e-6, `event ${i}: ${e.loss} vs ${want[i]}`));
});

test('limitTrainBatches / limitValBatches cut epochs short', async () => {
  cn.manualSeed(0);
  const trainer = new Trainer({ maxEpochs: 1, limitTrainBatches: 2, limitValBatches: 1 });
  const [r] = await trainer.fit(new TinyNet(), new ToyData(96, 16));
  assert.equal(r!.trainImages, 32);
});

test('seeded fits are identical on the reference backend', async () => {
  // withBackend would restore the backend at the first await: switch for the whole test instead.
  const prev = cn.getBackend().name as cn.BackendName;
  cn.setBackend('reference');
  try {
    const a = await fitOnce(7);
    const b = await fitOnce(7);
    assert.deepEqual(
      a.map((r) => [r.trainLoss, r.valLoss, r.valAcc]),
      b.map((r) => [r.trainLoss, r.valLoss, r.valAcc]),
    );
    const c = await fitOnce(8);
    assert.notDeepEqual(
      a.map((r) => r.trainLoss),
      c.map((r) => r.trainLoss),
    );
  } finally {
    cn.setBackend(prev);
  }
});

test('clipGradNorm scales gradients to the global norm', () => {
  const p1 = new nn.Parameter(cn.zeros([2]));
  const p2 = new nn.Parameter(cn.zeros([1]));
  p1.grad = cn.tensor([3, 0]).keep();
  p2.grad = cn.tensor([4]).keep();
  assert.ok(Math.abs(clipGradNorm([p1, p2], 10) - 5) < 1e-6);
  assert.deepEqual([...p1.grad.toArray()], [3, 0], 'no change below the threshold');
  assert.ok(Math.abs(clipGradNorm([p1, p2], 1) - 5) < 1e-6);
  const g = [...p1.grad.toArray(), ...p2.grad.toArray()];
  assert.ok(Math.abs(Math.hypot(...g) - 1) < 1e-6);
  assert.ok(Math.abs(g[0]! - 0.6) < 1e-6 && Math.abs(g[2]! - 0.8) < 1e-6);
});

test('gradientClipVal bounds the global gradient norm seen by the optimizer', async () => {
  const norms: number[] = [];
  class Watched extends TinyNet {
    override configureOptimizers(): SGD {
      const opt = super.configureOptimizers();
      const params = this.parameters();
      const step = opt.step.bind(opt);
      opt.step = () => {
        let sq = 0;
        for (const p of params) if (p.grad) for (const v of p.grad.toArray()) sq += v * v;
        norms.push(Math.sqrt(sq));
        step();
      };
      return opt;
    }
  }
  cn.manualSeed(0);
  // A large lr and input scale make raw gradient norms far above the threshold.
  const model = new Watched({ lr: 0.5 });
  await new Trainer({ maxEpochs: 1, gradientClipVal: 0.01 }).fit(model, new ToyData(48, 16));
  assert.equal(norms.length, 3);
  for (const n of norms) assert.ok(n <= 0.01 * (1 + 1e-4), `norm ${n}`);
});

test('memory in use stays flat across batches and epochs', async () => {
  cn.manualSeed(0);
  const k = cn.getBackend();
  const model = new TinyNet({ lr: 0.1 });
  const data = new ToyData(96, 16);
  const perEpoch: number[] = [];
  const perBatch: number[] = [];
  const trainer = new Trainer({ maxEpochs: 4, seed: 0, logEvery: 1 });
  trainer.on('batch', () => perBatch.push(k.memoryInUse()));
  trainer.on('epoch', () => perEpoch.push(k.memoryInUse()));
  await trainer.fit(model, data);
  // After the first step the parameters, their gradients and BN statistics are all that is live.
  assert.ok(perBatch.slice(1).every((m) => m === perBatch[1]), `per batch: ${[...new Set(perBatch)].join(', ')}`);
  assert.ok(perEpoch.every((m) => m === perEpoch[0]), `per epoch: ${perEpoch.join(', ')}`);
});

test('a validation step runs without recording a graph', () => {
  const model = new TinyNet();
  model.materialize([2, 1, 8, 8]);
  const batch: Batch = { x: cn.randn([4, 1, 8, 8]), y: cn.tensor([0, 1, 2, 0], { dtype: 'int32' }) };
  const r = cn.noGrad(() => model.validationStep(batch));
  assert.equal((r.loss as Tensor).requiresGrad, false);
  assert.ok(r.accuracy.item() >= 0 && r.accuracy.item() <= 1);
  const loss = model.trainingStep(batch);
  assert.equal(loss.requiresGrad, true);
});

test('Trainer.fit consumes the data layer: bnlenet on a few Fashion-MNIST batches', async (t) => {
  const { existsSync } = await import('node:fs');
  const data = await import('../src/data/index.js');
  const { createModel } = await import('../src/models/index.js');
  if (!existsSync(data.fashionMnistRoot())) {
    t.skip('Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)');
    return;
  }
  cn.manualSeed(0);
  const d = data.FashionMNIST({ batchSize: 64, numWorkers: 0, seed: 0 });
  const model = createModel('bnlenet');
  const k = cn.getBackend();
  const mem: number[] = [];
  const trainer = new Trainer({ maxEpochs: 2, limitTrainBatches: 30, limitValBatches: 3, seed: 0 });
  trainer.on('epoch', () => mem.push(k.memoryInUse()));
  const records = await trainer.fit(model, d);
  assert.equal(records[0]!.trainImages, 30 * 64);
  // 60 SGD steps at lr 0.1 (and BN running stats 1 - 0.9^60 converged) reach ~0.68; chance is 0.1.
  assert.ok(records[1]!.valAcc > 0.5, `val acc ${records[1]!.valAcc}`);
  assert.equal(mem[0], mem[1]);
});
