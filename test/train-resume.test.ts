/**
 * Resumable training on the reference backend: a run interrupted after epoch 2 and resumed from its
 * checkpoint in a fresh model / optimizer / data module ends bit for bit where the uninterrupted run
 * ends (weights, BatchNorm buffers, momentum buffers, losses), which needs the weights, the SGD
 * momentum, the default generator (dropout) and the data generator (shuffles); leaving out any of
 * the latter three changes the result. The checkpoint file format round-trips every state field.
 * The NaN guard stops `fit` with `NonFiniteLossError` before the diverged epoch's checkpoint.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cn from '../src/index.js';
import type { Tensor } from '../src/index.js';
import * as nn from '../src/nn/index.js';
import { SGD, Adam } from '../src/optim/index.js';
import { DataLoader, Dataset } from '../src/data/index.js';
import { loadSafetensors, saveSafetensors } from '../src/io/index.js';
import {
  Classifier,
  NonFiniteLossError,
  Trainer,
  loadCheckpoint,
  saveCheckpoint,
  type Batch,
  type CheckpointState,
  type DataModuleLike,
  type EpochRecord,
  type OptimizerLike,
} from '../src/train/index.js';

const dir = mkdtempSync(join(tmpdir(), 'convnet-resume-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** Conv + BatchNorm (buffers incl. num_batches_tracked) + dropout (default generator) + linear. */
class SmallNet extends Classifier {
  net: nn.Sequential;
  constructor(lr = 0.1) {
    super({ numClasses: 3, lr });
    this.net = new nn.Sequential(
      new nn.LazyConv2d(4, { kernelSize: 3, padding: 1 }),
      new nn.LazyBatchNorm2d(),
      new nn.ReLU(),
      new nn.MaxPool2d({ kernelSize: 2, stride: 2 }),
      new nn.Flatten(),
      new nn.Dropout(0.3),
      new nn.LazyLinear(this.numClasses),
    );
  }
}

/**
 * Three classes of noisy 8x8 images (a bright row, column or diagonal), in memory; the training
 * loader shuffles with `generator`, as `data.FashionMNIST` does.
 */
class ToyData implements DataModuleLike {
  readonly generator: cn.Generator;
  readonly train: Dataset;
  readonly val: Dataset;
  #train: DataLoader | null = null;
  constructor(shuffleSeed: number, n = 60) {
    const g = new cn.Generator(1); // the contents are always the same
    const x = new Float32Array(n * 64);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const c = i % 3;
      const k = g.randint(8);
      y[i] = c;
      for (let p = 0; p < 64; p++) {
        const r = Math.floor(p / 8);
        const q = p % 8;
        x[i * 64 + p] = (c === 0 ? r === k : c === 1 ? q === k : r === q) ? 1 : 0;
        x[i * 64 + p]! += 0.3 * g.normal();
      }
    }
    this.train = Dataset.fromArrays({ pixels: x, labels: y, shape: [n, 1, 8, 8] });
    this.val = Dataset.fromArrays({ pixels: x.slice(0, 24 * 64), labels: y.slice(0, 24), shape: [24, 1, 8, 8] });
    this.generator = new cn.Generator(shuffleSeed);
  }
  trainLoader(): DataLoader {
    this.#train ??= new DataLoader(this.train, { batchSize: 16, shuffle: true, numWorkers: 0, generator: this.generator });
    return this.#train;
  }
  valLoader(): DataLoader {
    return new DataLoader(this.val, { batchSize: 16, numWorkers: 0, seed: 0 });
  }
}

function sgd(model: Classifier): SGD {
  return new SGD({ params: model.parameters(), lr: model.lr, momentum: 0.9, weightDecay: 1e-3 });
}

/** A fresh model with materialized (and initialized) layers. */
function freshModel(): SmallNet {
  const m = new SmallNet();
  m.applyInit([cn.zeros([2, 1, 8, 8])], nn.initCnn);
  return m;
}

function bytes(t: Tensor): Buffer {
  const a = t.toArray();
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Bitwise comparison of two state dicts (same keys, shapes, dtypes and bytes). */
function assertSameState(a: Record<string, Tensor>, b: Record<string, Tensor>, what: string): void {
  assert.deepEqual(Object.keys(a), Object.keys(b), what);
  for (const k of Object.keys(a)) {
    assert.equal(a[k]!.dtype, b[k]!.dtype, `${what}: ${k}`);
    assert.deepEqual(a[k]!.shape, b[k]!.shape, `${what}: ${k}`);
    assert.ok(bytes(a[k]!).equals(bytes(b[k]!)), `${what}: ${k} differs`);
  }
}

function sameState(a: Record<string, Tensor>, b: Record<string, Tensor>): boolean {
  return Object.keys(a).every((k) => bytes(a[k]!).equals(bytes(b[k]!)));
}

/** The parts of a record that do not depend on timing. */
const values = (rs: readonly EpochRecord[]): number[][] => rs.map((r) => [r.epoch, r.trainLoss, r.valLoss, r.valAcc, r.trainImages]);

/** Runs `fn` on the reference backend (for the whole async run; withBackend would restore at the first await). */
async function onReference<T>(fn: () => Promise<T>): Promise<T> {
  const prev = cn.getBackend().name as cn.BackendName;
  cn.setBackend('reference');
  try {
    return await fn();
  } finally {
    cn.setBackend(prev);
  }
}

const SEED = 3;
const EPOCHS = 4;

function checkpointState(model: string, epoch: number, records: EpochRecord[], optimizer: OptimizerLike, data: ToyData): CheckpointState {
  return {
    model,
    modelOptions: { lr: 0.1 },
    epoch,
    records: [...records],
    optimizer: (optimizer as SGD).stateDict(),
    generator: cn.defaultGenerator.getState(),
    dataGenerator: data.generator.getState(),
    extra: { argv: ['train', 'small', '--epochs', String(EPOCHS)] },
  };
}

interface Restore {
  optimizer: boolean;
  generator: boolean;
  dataGenerator: boolean;
}

/** A "new process": fresh objects, global generator scrambled, then what `restore` says is restored. */
async function resume(path: string, restore: Restore): Promise<{ model: SmallNet; opt: SGD; records: EpochRecord[] }> {
  cn.manualSeed(12345);
  const model = new SmallNet();
  const data = new ToyData(999);
  const { weights, state } = loadCheckpoint(path);
  model.loadStateDict(weights, { strict: true }); // also materializes the lazy layers
  const opt = sgd(model);
  if (restore.optimizer) opt.loadStateDict(state.optimizer);
  if (restore.dataGenerator) data.generator.setState(state.dataGenerator!);
  const records = await new Trainer({ maxEpochs: EPOCHS, seed: SEED }).fit(model, data, {
    optimizer: opt,
    startEpoch: state.epoch,
    records: state.records,
    generatorState: restore.generator ? state.generator : undefined,
  });
  return { model, opt, records };
}

test('a run interrupted after epoch 2 and resumed from its checkpoint is bitwise identical to the straight run', async () => {
  await onReference(async () => {
    // The uninterrupted run.
    cn.manualSeed(0);
    const modelA = freshModel();
    const optA = sgd(modelA);
    const recordsA = await new Trainer({ maxEpochs: EPOCHS, seed: SEED }).fit(modelA, new ToyData(11), { optimizer: optA });
    assert.equal(recordsA.length, EPOCHS);
    assert.ok(recordsA[3]!.trainLoss < recordsA[0]!.trainLoss, 'it learns');

    // The same run, checkpointing every epoch and "crashing" after epoch 2's checkpoint.
    cn.manualSeed(0);
    const modelB = freshModel();
    const dataB = new ToyData(11);
    const path = join(dir, 'run.ckpt.safetensors');
    const seen: EpochRecord[] = [];
    const ends: number[] = [];
    await assert.rejects(
      new Trainer({ maxEpochs: EPOCHS, seed: SEED }).fit(modelB, dataB, {
        optimizer: sgd(modelB),
        onEpochEnd: (record, { epoch, optimizer }) => {
          ends.push(epoch);
          assert.equal(record.epoch, epoch);
          seen.push(record);
          saveCheckpoint(path, modelB, checkpointState('small', epoch, seen, optimizer, dataB));
          if (epoch === 2) throw new Error('simulated crash');
        },
      }),
      /simulated crash/,
    );
    assert.deepEqual(ends, [1, 2]);
    assert.deepEqual(values(seen), values(recordsA.slice(0, 2)), 'the first two epochs match the straight run');

    const { state } = loadCheckpoint(path);
    assert.equal(state.epoch, 2);
    assert.ok(Object.values(state.optimizer.state).some((s) => s.momentum_buffer instanceof cn.Tensor), 'momentum is in the checkpoint');

    const resumed = await resume(path, { optimizer: true, generator: true, dataGenerator: true });
    assert.deepEqual(values(resumed.records), values(recordsA));
    assertSameState(resumed.model.stateDict(), modelA.stateDict(), 'weights and buffers');
    const momentum = (o: SGD): Record<string, Tensor> =>
      Object.fromEntries(Object.entries(o.stateDict().state).map(([i, s]) => [i, s.momentum_buffer as Tensor]));
    assertSameState(momentum(resumed.opt), momentum(optA), 'momentum buffers');
    // Every training batch, plus applyInit's (a training-mode forward, as d2l's apply_init).
    assert.equal(resumed.model.stateDict()['net.1.num_batches_tracked']!.item(), 1 + recordsA.reduce((n, r) => n + Math.ceil(r.trainImages / 16), 0));

    // Each restored piece matters: without it the run ends elsewhere.
    for (const missing of ['optimizer', 'generator', 'dataGenerator'] as const) {
      const r = await resume(path, { optimizer: true, generator: true, dataGenerator: true, [missing]: false });
      assert.ok(!sameState(r.model.stateDict(), modelA.stateDict()), `without restoring the ${missing} the weights differ`);
    }
  });
});

test('checkpoint files: layout, round trip of every state field, and validation', () => {
  cn.manualSeed(1);
  const model = freshModel();
  const opt = new Adam({ params: model.parameters(), lr: 1e-3 });
  const batch = { x: cn.randn([4, 1, 8, 8]), y: cn.tensor(new Int32Array([0, 1, 2, 0]), { dtype: 'int32' }) };
  cn.tidy(() => {
    const loss = model.trainingStep(batch);
    loss.backward();
    opt.step();
  });
  const g = new cn.Generator(5);
  g.normal(); // leaves a cached spare normal in the state
  const state: CheckpointState = {
    model: 'small',
    modelOptions: { lr: 0.1, numClasses: 3 },
    epoch: 1,
    records: [{ epoch: 1, trainLoss: 1.25, valLoss: NaN, valAcc: NaN, imagesPerSec: 100, seconds: 0.5, trainImages: 60, trainSeconds: 0.4 }],
    optimizer: opt.stateDict(),
    generator: cn.defaultGenerator.getState(), // no spare: NaN in the state
    dataGenerator: g.getState(),
    extra: { note: 'x', nested: { list: [1, -0, Infinity] } },
  };
  const path = join(dir, 'adam.ckpt.safetensors');
  saveCheckpoint(path, model, state);

  // A plain safetensors file: the weights under their names, the optimizer tensors under __optim__.
  const plain = loadSafetensors(path);
  assert.equal(plain.metadata.format, 'convnet-checkpoint');
  assert.equal(plain.metadata.format_version, '1');
  const names = Object.keys(plain.tensors);
  assert.deepEqual(names.filter((n) => !n.startsWith('__optim__.')), Object.keys(model.stateDict()));
  assert.ok(names.includes('__optim__.0.exp_avg') && names.includes('__optim__.0.exp_avg_sq'));

  const { weights, state: back } = loadCheckpoint(path);
  assertSameState(weights, model.stateDict(), 'weights');
  assert.equal(back.model, 'small');
  assert.deepEqual(back.modelOptions, state.modelOptions);
  assert.equal(back.epoch, 1);
  assert.deepEqual(back.records, state.records); // NaN survives (deepEqual treats NaN as equal to NaN)
  assert.ok(Number.isNaN(back.generator[4]!));
  assert.deepEqual(back.generator, state.generator);
  assert.deepEqual(back.dataGenerator, state.dataGenerator);
  assert.ok(Object.is((back.extra.nested as { list: number[] }).list[1], -0));
  assert.deepEqual(back.extra, state.extra);
  assert.deepEqual(back.optimizer.paramGroups, state.optimizer.paramGroups);
  for (const [id, s] of Object.entries(state.optimizer.state)) {
    const b = back.optimizer.state[Number(id)]!;
    assert.equal(b.step, s.step);
    assert.ok(bytes(b.exp_avg as Tensor).equals(bytes(s.exp_avg as Tensor)));
    assert.ok(bytes(b.exp_avg_sq as Tensor).equals(bytes(s.exp_avg_sq as Tensor)));
  }
  // The restored optimizer continues as the original would.
  const opt2 = new Adam({ params: model.parameters(), lr: 1e-3 });
  opt2.loadStateDict(back.optimizer);
  assert.deepEqual(
    Object.values(opt2.stateDict().state).map((s) => s.step),
    Object.values(opt.stateDict().state).map((s) => s.step),
  );

  // Validation, naming the file.
  const weightsOnly = join(dir, 'weights-only.safetensors');
  saveSafetensors(weightsOnly, model.stateDict());
  assert.throws(() => loadCheckpoint(weightsOnly), /loadCheckpoint: .*weights-only\.safetensors: not a convnet training checkpoint/);
  const tampered = join(dir, 'tampered.safetensors');
  const { [`__optim__.0.exp_avg`]: _dropped, ...rest } = plain.tensors;
  saveSafetensors(tampered, rest, plain.metadata);
  assert.throws(() => loadCheckpoint(tampered), /tampered\.safetensors: optimizer tensor '__optim__\.0\.exp_avg' .* is missing/);
  const badState = join(dir, 'bad-state.safetensors');
  saveSafetensors(badState, plain.tensors, { ...plain.metadata, state: JSON.stringify({ ...JSON.parse(plain.metadata.state!), epoch: -1 }) });
  assert.throws(() => loadCheckpoint(badState), /bad-state\.safetensors: state\.epoch must be a non-negative integer/);
  assert.throws(() => saveCheckpoint(join(dir, 'x.safetensors'), new SmallNet(), state), /parameter 'net\.0\.weight' is not materialized/);
  assert.throws(() => saveCheckpoint(join(dir, 'x.safetensors'), model, { ...state, generator: [1, 2] }), /state\.generator must be/);
  assert.throws(() => saveCheckpoint(join(dir, 'x.safetensors'), model, { ...state, extra: { n: 1n } }), /cannot be stored as JSON/);
});

test('fit validates startEpoch and can continue with no epochs left', async () => {
  await onReference(async () => {
    cn.manualSeed(0);
    const model = freshModel();
    const trainer = new Trainer({ maxEpochs: 2 });
    await assert.rejects(trainer.fit(model, new ToyData(1), { startEpoch: 3 }), /startEpoch must be an integer in 0\.\.maxEpochs \(2\), got 3/);
    await assert.rejects(trainer.fit(model, new ToyData(1), { startEpoch: 0.5 }), /startEpoch/);
    const prior: EpochRecord[] = [{ epoch: 1, trainLoss: 1, valLoss: 1, valAcc: 0.5, imagesPerSec: 1, seconds: 1, trainImages: 60, trainSeconds: 1 }];
    const done = await trainer.fit(model, new ToyData(1), { startEpoch: 2, records: [...prior, { ...prior[0]!, epoch: 2 }] });
    assert.deepEqual(done.map((r) => r.epoch), [1, 2]);
  });
});

/** Training batches from ToyData, with NaN inputs in `poison` = [epoch, batch]. */
class PoisonedData implements DataModuleLike {
  readonly inner = new ToyData(4);
  epoch = 0;
  constructor(readonly poison: [number, number]) {}
  trainLoader(): Iterable<Batch> {
    const epoch = ++this.epoch;
    const inner = this.inner.trainLoader();
    const [pe, pb] = this.poison;
    return {
      *[Symbol.iterator]() {
        let b = 0;
        for (const batch of inner) {
          b++;
          if (epoch === pe && b === pb) {
            const x = cn.full(batch.x.shape, NaN);
            batch.x.dispose();
            yield { x, y: batch.y };
          } else {
            yield batch;
          }
        }
      },
    };
  }
  valLoader(): DataLoader {
    return this.inner.valLoader();
  }
}

for (const logEvery of [1, 20]) {
test(`NaN guard (logEvery ${logEvery}): a NaN loss stops fit with NonFiniteLossError before that epoch is checkpointed`, async () => {
  await onReference(async () => {
    cn.manualSeed(0);
    const model = freshModel();
    const data = new PoisonedData([2, 3]);
    const path = join(dir, 'nan.ckpt.safetensors');
    const ends: number[] = [];
    let saved: Buffer | null = null;
    const err = await new Trainer({ maxEpochs: 4, seed: 1, logEvery })
      .fit(model, data, {
        onEpochEnd: (record, { epoch, optimizer }) => {
          ends.push(epoch);
          saveCheckpoint(path, model, checkpointState('small', epoch, [record], optimizer, data.inner));
          saved = readFileSync(path);
        },
      })
      .then(
        () => null,
        (e: unknown) => e,
      );
    assert.ok(err instanceof NonFiniteLossError, `expected NonFiniteLossError, got ${String(err)}`);
    assert.equal(err.message, 'training stopped: loss is NaN at epoch 2, batch 3 (lr 0.1); the last good checkpoint is kept');
    assert.equal(err.name, 'NonFiniteLossError');
    assert.deepEqual([err.epoch, err.batch, err.lr], [2, 3, 0.1]);
    assert.ok(Number.isNaN(err.loss));
    assert.deepEqual(ends, [1], 'onEpochEnd did not run for the diverged epoch');
    assert.ok(readFileSync(path).equals(saved!), 'the last good checkpoint is unchanged');
    assert.equal(loadCheckpoint(path).state.epoch, 1);
    // Checked at every step (logEvery 1), the failing batch's update was not applied: the
    // parameters are still finite. (Its forward pass did update the BatchNorm running statistics,
    // hence "the last good checkpoint".) Read in bulk, the loss is found at the next read-back.
    if (logEvery === 1) {
      for (const [k, p] of model.namedParameters()) {
        assert.ok([...p.toArray()].every(Number.isFinite), `${k} is finite`);
      }
    }
  });
});
}

test('NaN guard: a diverging learning rate stops fit with NonFiniteLossError', async () => {
  await onReference(async () => {
    cn.manualSeed(0);
    // A deep linear net: with a far too large step the weights grow multiplicatively until float32
    // overflows (at lr 1 it trains).
    class DeepLinear extends Classifier {
      net = new nn.Sequential(new nn.Flatten(), new nn.LazyLinear(16), new nn.LazyLinear(16), new nn.LazyLinear(3));
    }
    const model = new DeepLinear({ numClasses: 3, lr: 10 });
    model.applyInit([cn.zeros([2, 1, 8, 8])]);
    const ends: number[] = [];
    const err = await new Trainer({ maxEpochs: 20, seed: 0 })
      .fit(model, new ToyData(2), { onEpochEnd: (_r, { epoch }) => void ends.push(epoch) })
      .then(
        () => null,
        (e: unknown) => e,
      );
    assert.ok(err instanceof NonFiniteLossError, `expected NonFiniteLossError, got ${String(err)}`);
    assert.ok(!Number.isFinite(err.loss));
    assert.match(err.message, /^training stopped: loss is (NaN|Infinity|-Infinity) at epoch \d+, batch \d+ \(lr 10\); the last good checkpoint is kept$/);
    assert.deepEqual(ends, Array.from({ length: err.epoch - 1 }, (_, i) => i + 1), 'onEpochEnd ran only for the completed epochs');
  });
});

/**
 * The same interrupted-and-resumed run with the recipes: AdamW with label smoothing and a per-batch
 * OneCycleLR (which also cycles beta1), and SGD with momentum under a warm-up + cosine
 * SequentialLR stepped per epoch. The scheduler's stateDict goes through the checkpoint file;
 * the resumed run must end bitwise where the straight one ends, and without restoring the
 * scheduler it must not.
 */
import { AdamW, CosineAnnealingLR, LinearLR, OneCycleLR, SequentialLR, type LRScheduler, type Optimizer } from '../src/optim/index.js';

interface Recipe {
  name: string;
  labelSmoothing: number;
  optimizer(model: Classifier): Optimizer<{ lr: number }>;
  scheduler(opt: Optimizer<{ lr: number }>): LRScheduler;
  interval: 'epoch' | 'step';
}

const RECIPES: Recipe[] = [
  {
    name: 'AdamW + label smoothing + OneCycleLR per batch',
    labelSmoothing: 0.1,
    optimizer: (m) => new AdamW({ params: m.parameters(), lr: 0.01, weightDecay: 0.05 }),
    scheduler: (opt) => new OneCycleLR(opt, { maxLr: 0.02, epochs: EPOCHS, stepsPerEpoch: 4 }),
    interval: 'step',
  },
  {
    name: 'SGD momentum + warm-up then cosine per epoch',
    labelSmoothing: 0,
    optimizer: (m) => new SGD({ params: m.parameters(), lr: 0.1, momentum: 0.9 }),
    scheduler: (opt) =>
      new SequentialLR(opt, {
        schedulers: [new LinearLR(opt, { startFactor: 0.2, totalIters: 1 }), new CosineAnnealingLR(opt, { tMax: EPOCHS - 1 })],
        milestones: [1],
      }),
    interval: 'epoch',
  },
];

for (const recipe of RECIPES) {
  test(`${recipe.name}: a resumed run is bitwise identical to the straight run`, async () => {
    await onReference(async () => {
      const make = (): SmallNet => {
        const m = freshModel();
        m.labelSmoothing = recipe.labelSmoothing;
        return m;
      };
      cn.manualSeed(0);
      const modelA = make();
      const optA = recipe.optimizer(modelA);
      const recordsA = await new Trainer({ maxEpochs: EPOCHS, seed: SEED }).fit(modelA, new ToyData(11), {
        optimizer: optA,
        scheduler: recipe.scheduler(optA),
        schedulerInterval: recipe.interval,
      });
      // The learning rate moved (recorded per epoch) and training worked.
      const lrs = recordsA.map((r) => r.lr!);
      assert.equal(new Set(lrs).size, EPOCHS, `lr per epoch ${lrs.join(', ')}`);

      cn.manualSeed(0);
      const modelB = make();
      const dataB = new ToyData(11);
      const optB = recipe.optimizer(modelB);
      const path = join(dir, `recipe-${recipe.interval}.ckpt.safetensors`);
      const seen: EpochRecord[] = [];
      await assert.rejects(
        new Trainer({ maxEpochs: EPOCHS, seed: SEED }).fit(modelB, dataB, {
          optimizer: optB,
          scheduler: recipe.scheduler(optB),
          schedulerInterval: recipe.interval,
          onEpochEnd: (record, { epoch, optimizer, scheduler }) => {
            seen.push(record);
            saveCheckpoint(path, modelB, {
              ...checkpointState('small', epoch, seen, optimizer, dataB),
              optimizer: (optimizer as Optimizer<{ lr: number }>).stateDict(),
              scheduler: (scheduler as LRScheduler).stateDict(),
            });
            if (epoch === 2) throw new Error('simulated crash');
          },
        }),
        /simulated crash/,
      );

      const resumeRun = async (restoreScheduler: boolean): Promise<{ model: SmallNet; records: EpochRecord[] }> => {
        cn.manualSeed(12345);
        const model = new SmallNet();
        model.labelSmoothing = recipe.labelSmoothing;
        const data = new ToyData(999);
        const { weights, state } = loadCheckpoint(path);
        model.loadStateDict(weights);
        const opt = recipe.optimizer(model);
        const sched = recipe.scheduler(opt);
        opt.loadStateDict(state.optimizer);
        if (restoreScheduler) sched.loadStateDict(state.scheduler!);
        data.generator.setState(state.dataGenerator!);
        const records = await new Trainer({ maxEpochs: EPOCHS, seed: SEED }).fit(model, data, {
          optimizer: opt,
          scheduler: sched,
          schedulerInterval: recipe.interval,
          startEpoch: state.epoch,
          records: state.records,
          generatorState: state.generator,
        });
        return { model, records };
      };
      const resumed = await resumeRun(true);
      assert.deepEqual(values(resumed.records), values(recordsA));
      assert.deepEqual(resumed.records.map((r) => r.lr), lrs);
      assertSameState(resumed.model.stateDict(), modelA.stateDict(), 'weights and buffers');
      const without = await resumeRun(false);
      assert.ok(!sameState(without.model.stateDict(), modelA.stateDict()), 'without the scheduler state the run ends elsewhere');
    });
  });
}

test('the within-epoch training curve: d2l-style groups of batches at fractional epochs', async () => {
  await onReference(async () => {
    cn.manualSeed(0);
    const model = freshModel();
    const losses: number[] = [];
    const trainer = new Trainer({ maxEpochs: 2, seed: SEED, plotTrainPerEpoch: 2, logEvery: 1 });
    trainer.on('batch', (e) => losses.push(e.loss));
    // 60 samples in batches of 16: 4 batches per epoch, 2 points of 2 batches each.
    const records = await trainer.fit(model, new ToyData(11));
    const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
    assert.deepEqual(records[0]!.trainCurve, [
      { epoch: 0.125, loss: mean(losses.slice(0, 2)) },
      { epoch: 0.625, loss: mean(losses.slice(2, 4)) },
    ]);
    assert.deepEqual(records[1]!.trainCurve!.map((p) => p.epoch), [1.125, 1.625]);
    // 3 points per epoch of 4 batches: groups of 1, 1 and the remaining 2 (no point straddles epochs).
    const r3 = await new Trainer({ maxEpochs: 1, seed: SEED, plotTrainPerEpoch: 3 }).fit(freshModel(), new ToyData(11));
    assert.deepEqual(r3[0]!.trainCurve!.map((p) => p.epoch), [0, 0.25, 0.625]);
    assert.throws(() => new Trainer({ maxEpochs: 1, plotTrainPerEpoch: 0 }), /plotTrainPerEpoch must be a positive integer, got 0/);
    // A schedule of another optimizer (here: model.configureOptimizers() would be used) is refused.
    const other = new SGD({ params: [new nn.Parameter(cn.zeros([1]))], lr: 0.1 });
    await assert.rejects(
      new Trainer({ maxEpochs: 1 }).fit(freshModel(), new ToyData(11), { scheduler: new CosineAnnealingLR(other, { tMax: 2 }) }),
      /Trainer\.fit: the scheduler drives another optimizer/,
    );
  });
});
