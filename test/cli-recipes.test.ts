/**
 * `convnet train` recipes and fidelity, run as child processes the way a user runs them:
 * - bnlenet-scratch keeps the lecture's moving mean / variance in its weights and checkpoints:
 *   `eval` reproduces the run's own validation, `predict` the reloaded model, `--resume` the
 *   uninterrupted run;
 * - the recipe flags (AdamW, weight decay, a warm-up + step schedule, label smoothing, augmentation,
 *   init) are recorded in the checkpoint and a resumed run continues them exactly;
 * - a OneCycleLR + momentum run killed with SIGKILL after a checkpoint and resumed ends bit for bit
 *   where the uninterrupted run ends (reference backend);
 * - bad recipe flags and recipe changes on resume are one-line errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as cn from '../src/index.js';
import { convnet, ok } from './helpers/cli.js';
import { createModel } from '../src/models/index.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { loadSafetensors } from '../src/io/safetensors.js';
import { BatchNorm } from '../src/nn/index.js';
import { FASHION_MNIST_LABELS, loadFashionMnistSplit } from '../src/data/fashion-mnist-files.js';

const work = mkdtempSync(join(tmpdir(), 'convnet-cli-recipes-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));


type Metrics = Record<string, number>;
const metrics = (dir: string): Metrics[] => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Metrics);

function bytes(t: cn.Tensor): Buffer {
  const a = t.toArray();
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

const haveData = existsSync('/usr/share/datasets/fashion-mnist') || process.env.CONVNET_FASHION_MNIST !== undefined;
const DATA = ['--data', 'fashion-mnist', '--limit-train', '256', '--limit-val', '500', '--batch-size', '64', '--seed', '3'];

// The independent runs start at once and overlap; each test awaits what it needs.
const scratch2 = join(work, 'scratch2');
const scratch1 = join(work, 'scratch1');
const recipe3 = join(work, 'recipe3');
const recipe1 = join(work, 'recipe1');
const RECIPE = ['--optimizer', 'adamw', '--lr', '0.003', '--weight-decay', '0.05', '--lr-schedule', 'warmup:1:0.2+step:1:0.5', '--label-smoothing', '0.1', '--augment', 'default'];
const runs = haveData
  ? {
      scratch2: convnet(['train', 'bnlenet-scratch', ...DATA, '--epochs', '2', '--out', scratch2]),
      scratch1: convnet(['train', 'bnlenet-scratch', ...DATA, '--epochs', '1', '--out', scratch1]),
      recipe3: convnet(['train', 'bnlenet', ...DATA, ...RECIPE, '--epochs', '3', '--out', recipe3]),
      recipe1: convnet(['train', 'bnlenet', ...DATA, ...RECIPE, '--epochs', '1', '--out', recipe1]),
    }
  : null;

test('bnlenet-scratch: moving statistics are saved; eval, predict and --resume use them', { timeout: 300_000 }, async (t) => {
  if (runs === null) return t.skip('Fashion-MNIST not installed');
  ok(await runs.scratch2, 'train bnlenet-scratch');
  const saved = loadSafetensors(join(scratch2, 'model.safetensors')).tensors;
  const { weights } = loadCheckpoint(join(scratch2, 'checkpoint.safetensors'));
  for (const i of [1, 5, 10, 13]) {
    for (const [key, neutral] of [['moving_mean', 0], ['moving_var', 1]] as const) {
      const name = `net.${i}.${key}`;
      assert.ok(name in saved && name in weights, `${name} is in model.safetensors and the checkpoint`);
      assert.ok(Array.from(saved[name]!.toArray()).some((v) => Math.abs(v - neutral) > 1e-3), `${name} was trained (not all ${neutral})`);
      assert.ok(bytes(saved[name]!).equals(bytes(weights[name]!)));
    }
  }

  // eval reproduces the run's own last validation (which used the moving statistics).
  const r = ok(await convnet(['eval', scratch2, '--limit', '500', '--json']), 'eval');
  const e = JSON.parse(r.stdout) as { accuracy: number; loss: number; images: number };
  const last = metrics(scratch2).at(-1)!;
  assert.equal(e.images, 500);
  assert.ok(Math.abs(e.accuracy - last.val_acc!) < 1e-4, `eval accuracy ${e.accuracy} vs the run's ${last.val_acc}`);
  assert.ok(Math.abs(e.loss - last.val_loss!) < 1e-3, `eval loss ${e.loss} vs the run's ${last.val_loss}`);

  // predict: the reloaded model's probabilities; with the statistics reset to 0 / 1 (what was
  // lost before) the logits would be far off, so this test can tell.
  const test0 = loadFashionMnistSplit('test');
  const pixels = test0.images.subarray(0, 784);
  const png = join(work, 'item0.png');
  await sharp(Buffer.from(pixels), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(png);
  const p = JSON.parse(ok(await convnet(['predict', scratch2, png, '--top-k', '10', '--json']), 'predict').stdout) as { top: { index: number; probability: number }[] };
  const model = createModel('bnlenet-scratch');
  model.materialize([1, 1, 28, 28]);
  model.loadStateDict(weights);
  model.eval();
  const x = cn.tensor(Float32Array.from(pixels, (v) => v / 255), { shape: [1, 1, 28, 28] });
  const probs = cn.noGrad(() => cn.softmax(model.call(x), 1)).toArray();
  for (const tp of p.top) assert.ok(Math.abs(tp.probability - probs[tp.index]!) < 1e-5, `${FASHION_MNIST_LABELS[tp.index]}: ${tp.probability} vs ${probs[tp.index]}`);
  const logits = Array.from(cn.noGrad(() => model.call(x)).toArray());
  for (const m of model.modules()) {
    if (m instanceof BatchNorm) {
      m.movingMean.assign(cn.zeros(m.movingMean.shape));
      m.movingVar.assign(cn.ones(m.movingVar.shape));
    }
  }
  const reset = Array.from(cn.noGrad(() => model.call(x)).toArray());
  const moved = Math.max(...logits.map((v, i) => Math.abs(v - reset[i]!)));
  assert.ok(moved > 0.01, `the moving statistics matter for the prediction (logits move by ${moved})`);

  // --resume of a 1-epoch run continues with the saved statistics: as the straight 2-epoch run.
  ok(await runs.scratch1, 'train 1 epoch');
  const rr = ok(await convnet(['train', 'bnlenet-scratch', '--epochs', '2', '--out', scratch1, '--resume']), 'resume');
  assert.match(rr.stdout, /resuming .* after epoch 1/);
  const [a, b] = [metrics(scratch2), metrics(scratch1)];
  for (const k of ['train_loss', 'val_loss', 'val_acc']) {
    for (const i of [0, 1]) assert.ok(Math.abs(a[i]![k]! - b[i]![k]!) <= 1e-5, `epoch ${i + 1} ${k}: ${a[i]![k]} vs ${b[i]![k]}`);
  }
  const resumed = loadCheckpoint(join(scratch1, 'checkpoint.safetensors')).weights;
  for (const i of [1, 5, 10, 13]) {
    const [m1, m2] = [resumed[`net.${i}.moving_var`]!.toArray(), weights[`net.${i}.moving_var`]!.toArray()];
    m1.forEach((v, j) => assert.ok(Math.abs(v - m2[j]!) < 1e-5, `net.${i}.moving_var[${j}]: ${v} vs ${m2[j]}`));
  }
});

test('recipe flags are recorded in the checkpoint and a resumed run continues them exactly', { timeout: 300_000 }, async (t) => {
  if (runs === null) return t.skip('Fashion-MNIST not installed');
  const straight = ok(await runs.recipe3, 'train with the recipe flags');
  assert.match(straight.stdout, /AdamW, weight decay 0\.05, schedule warmup:1:0\.2\+step:1:0\.5, label smoothing 0\.1, xavier init, augment hflip:0\.5,resized-crop:0\.64,jitter:0\.2:0\.2/);
  const { state } = loadCheckpoint(join(recipe3, 'checkpoint.safetensors'));
  const run = state.extra.run as Record<string, unknown>;
  assert.deepEqual(
    [run.optimizer, run.momentum, run.weightDecay, run.lrSchedule, run.labelSmoothing, run.init, run.augment],
    ['adamw', 0, 0.05, 'warmup:1:0.2+step:1:0.5', 0.1, 'xavier', 'hflip:0.5,resized-crop:0.64,jitter:0.2:0.2'],
  );
  assert.equal(state.modelOptions.labelSmoothing, 0.1);
  assert.equal(state.scheduler?.type, 'SequentialLR');
  assert.ok(Object.values(state.optimizer.state).some((s) => s.exp_avg instanceof cn.Tensor), 'AdamW moments are in the checkpoint');
  // The learning rates of SequentialLR([LinearLR(0.2, 1 epoch), StepLR(1, 0.5)]): 0.2·lr, lr, lr/2.
  const m3 = metrics(recipe3);
  assert.deepEqual(m3.map((m) => m.lr), [0.003 * 0.2, 0.003, 0.0015]);
  // curves.svg: up to 10 training-loss points per epoch (here 4 batches each: one point per batch,
  // at fractional epochs), one validation point per epoch.
  const svg = readFileSync(join(recipe3, 'curves.svg'), 'utf8');
  const xs = [...svg.matchAll(/<circle data-series="trainLoss" data-epoch="([\d.]+)"/g)].map((m) => Number(m[1]));
  assert.deepEqual(xs, [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.25, 2.5, 2.75]);
  assert.deepEqual(state.records.map((rec) => rec.trainCurve!.length), [4, 4, 4]);
  assert.equal(svg.match(/<circle data-series="valAcc"/g)?.length, 3);

  ok(await runs.recipe1, 'train 1 epoch');
  const r = ok(await convnet(['train', 'bnlenet', '--epochs', '3', '--out', recipe1, '--resume']), 'resume');
  assert.match(r.stdout, /AdamW, weight decay 0\.05, schedule warmup/);
  const m1 = metrics(recipe1);
  assert.deepEqual(m1.map((m) => m.lr), m3.map((m) => m.lr));
  for (const k of ['train_loss', 'val_loss', 'val_acc']) {
    for (const i of [0, 1, 2]) assert.ok(Math.abs(m1[i]![k]! - m3[i]![k]!) <= 1e-5, `epoch ${i + 1} ${k}: ${m1[i]![k]} vs ${m3[i]![k]}`);
  }
  // A resumed run keeps its recipe.
  const changed = await convnet(['train', 'bnlenet', '--epochs', '4', '--out', recipe1, '--resume', '--optimizer', 'sgd']);
  assert.notEqual(changed.status, 0);
  assert.match(changed.stderr, /^convnet: --optimizer "sgd" differs from the resumed run's "adamw"; a resumed run keeps its recipe\n$/);
  const lr = await convnet(['train', 'bnlenet', '--epochs', '4', '--out', recipe1, '--resume', '--lr', '0.5']);
  assert.match(lr.stderr, /--lr cannot change a resumed run with --optimizer adamw/);
});

test('OneCycleLR + momentum: killed with SIGKILL after a checkpoint, the resumed run ends bit for bit as the straight one', { timeout: 300_000 }, async (t) => {
  if (runs === null) return t.skip('Fashion-MNIST not installed');
  // The reference backend is deterministic bit for bit, and slow enough to be killed mid-run.
  const args = ['train', 'lenet', '--backend', 'reference', '--data', 'fashion-mnist', '--limit-train', '192', '--limit-val', '64', '--batch-size', '32', '--seed', '5',
    '--optimizer', 'sgd', '--momentum', '0.9', '--lr-schedule', 'onecycle:0.25', '--epochs', '3'];
  const straightDir = join(work, 'onecycle-straight');
  const killedDir = join(work, 'onecycle-killed');
  const ckpt = join(killedDir, 'checkpoint.safetensors');
  const [straight, killed] = await Promise.all([
    convnet([...args, '--out', straightDir]),
    convnet([...args, '--out', killedDir], { killWhen: () => existsSync(ckpt) }),
  ]);
  ok(straight, 'straight run');
  assert.equal(killed.signal, 'SIGKILL', `the run was killed (${killed.status}, ${killed.stderr})`);
  const at = loadCheckpoint(ckpt).state.epoch;
  assert.ok(at >= 1 && at < 3, `killed after epoch ${at}`);
  ok(await convnet(['train', 'lenet', '--backend', 'reference', '--out', killedDir, '--resume']), 'resume');
  const a = loadCheckpoint(join(straightDir, 'checkpoint.safetensors'));
  const b = loadCheckpoint(ckpt);
  assert.equal(b.state.epoch, 3);
  for (const [k, v] of Object.entries(a.weights)) assert.ok(bytes(v).equals(bytes(b.weights[k]!)), `${k} differs`);
  assert.deepEqual(b.state.scheduler, a.state.scheduler);
  assert.equal((a.state.scheduler as { lastEpoch: number }).lastEpoch, 3 * 6);
  assert.deepEqual(b.state.optimizer.paramGroups, a.state.optimizer.paramGroups); // lr and the cycled momentum
  assert.deepEqual(metrics(killedDir).map((m) => m.lr), metrics(straightDir).map((m) => m.lr));
  // Its schedule spans the run: the number of epochs cannot change on resume.
  const more = await convnet(['train', 'lenet', '--out', killedDir, '--resume', '--epochs', '5']);
  assert.match(more.stderr, /--epochs 5 differs from the resumed run's 3, over which its --lr-schedule onecycle:0\.25 runs/);
});

test('bad recipe flags: one line on stderr, exit code 2', async () => {
  const cases: [string[], RegExp][] = [
    [['--lr-schedule', 'cosine:x'], /--lr-schedule: eta_min must be a number >= 0, got 'x'/],
    [['--lr-schedule', 'exp:3'], /--lr-schedule: unknown schedule 'exp'/],
    [['--lr-schedule', 'warmup:2+onecycle'], /onecycle has its own warm-up/],
    [['--optimizer', 'rmsprop'], /--optimizer must be sgd or adam or adamw, got 'rmsprop'/],
    [['--optimizer', 'adam', '--momentum', '0.9'], /--momentum applies to --optimizer sgd/],
    [['--momentum', '1'], /--momentum must be a number in \[0, 1\), got '1'/],
    [['--weight-decay', '-1'], /--weight-decay must be a number in \[0, Infinity\), got '-1'/],
    [['--label-smoothing', '1'], /--label-smoothing must be a number in \[0, 1\), got '1'/],
    [['--init', 'he'], /--init must be default or xavier, got 'he'/],
    [['--augment', 'wobble'], /--augment: unknown augmentation 'wobble'/],
    [['--augment', 'blur:4'], /--augment: 'blur:4': gaussianBlur: kernelSize must be odd/],
  ];
  const results = await Promise.all(cases.map(([flags]) => convnet(['train', 'lenet', ...flags, '--out', join(work, 'never')])));
  cases.forEach(([flags, message], i) => {
    const r = results[i]!;
    assert.equal(r.status, 2, `${flags.join(' ')}: exit code (${r.stderr})`);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${flags.join(' ')}: one line, got ${JSON.stringify(r.stderr)}`);
    assert.match(r.stderr, message, flags.join(' '));
  });
  assert.ok(!existsSync(join(work, 'never')), 'nothing was written');
});
