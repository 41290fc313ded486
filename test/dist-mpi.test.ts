/**
 * Data-parallel training with 2 ranks on this machine, through Open MPI as CI runs it
 * (`mpirun --allow-run-as-root --oversubscribe -np 2`, or `convnet train --nproc 2`). Each result
 * is checked against an independent single-process computation:
 *
 * - lenet (native) and AlexNet's layers without dropout (native, 46.8M parameters in 3 buckets,
 *   one > 25 MB): the weights after K steps on a fixed subset equal the single-process run with
 *   the same global batch (relative 1e-5 per tensor);
 * - bnlenet with --sync-bn equals the single-process run; without it, it equals a single-process
 *   emulation in this file in which each half of every batch is normalized with its own statistics
 *   and rank 0's running statistics are kept (reference backend: its float64 sums keep the
 *   comparison free of the native kernels' thread-count-dependent rounding, which alone moves BN
 *   biases by ~1e-4 over 8 steps);
 * - resuming a 2-rank run's checkpoint in one process continues as the uninterrupted 1-process run;
 * - a killed rank ends the world within seconds with one line, the checkpoint stays loadable and
 *   --resume continues; a rank that throws ends the world with its line; ranks started differently
 *   (or a rank that cannot start) are refused before any step with one line;
 * - the world's collectives, the reducer and SyncBatchNorm's values and gradients
 *   (test/helpers/dist-worker.ts `world`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as cn from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { createModel } from '../src/models/index.js';
import { loadSafetensors } from '../src/io/safetensors.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { loadData } from '../src/cli/data.js';
import { mpiUnavailableReason } from '../src/dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const MAIN = join(here, '..', 'src', 'cli', 'main.js');
const WORKER = join(here, 'helpers', 'dist-worker.js');
const MPIRUN = ['mpirun', '--allow-run-as-root', '--oversubscribe'];
const work = mkdtempSync(join(tmpdir(), 'convnet-dist-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

// CI installs Open MPI (scripts/setup.sh): without it these tests must fail, not pass vacuously.
const mpiMissing = mpiUnavailableReason() || (spawnSync('mpirun', ['--version']).status === 0 ? '' : 'mpirun is not on PATH');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Runs a command; `onStart` receives the child (to kill a rank while it runs). */
function run(cmd: string[], timeoutMs = 180_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd[0]!, cmd.slice(1), { timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr, seconds: (performance.now() - t0) / 1000 }));
  });
}

const convnet = (args: string[]): string[] => [process.execPath, MAIN, ...args];

function ok(r: Run, what: string): Run {
  assert.equal(r.status, 0, `${what} failed (${r.status}):\n${r.stderr}\n${r.stdout}`);
  return r;
}

/** Lines we print (`convnet: ...`) on stderr. */
const ourLines = (stderr: string): string[] => stderr.split('\n').filter((l) => l.startsWith('convnet:'));

/**
 * Every tensor of `actual` equals `expected`'s within `rel` of the tensor's largest magnitude
 * (integer buffers exactly).
 */
function assertSameWeights(actual: Record<string, Tensor>, expected: Record<string, Tensor>, rel: number, what: string): void {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `${what}: names`);
  for (const [name, e] of Object.entries(expected)) {
    const a = actual[name]!.toArray();
    const b = e.toArray();
    assert.equal(a.length, b.length, `${what}: ${name} size`);
    let scale = 0;
    let diff = 0;
    for (let i = 0; i < b.length; i++) {
      scale = Math.max(scale, Math.abs(b[i]!));
      diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    }
    if (e.dtype === 'int32') assert.equal(diff, 0, `${what}: ${name} differs`);
    else assert.ok(diff <= rel * scale, `${what}: ${name} differs by ${diff} (${(diff / scale).toExponential(2)} of its scale ${scale}; allowed ${rel})`);
  }
}

const weightsOf = (dir: string): Record<string, Tensor> => loadSafetensors(join(dir, 'model.safetensors')).tensors;
const metrics = (dir: string): Record<string, number>[] =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);

// 256 images in batches of 32: 8 steps per epoch; 64 validation images (sharded 32 + 32).
const SMALL = ['--data', 'fashion-mnist', '--limit-train', '256', '--limit-val', '64', '--batch-size', '32', '--seed', '4'];

test('the world: collectives, start-up agreements, the gradient reducer and SyncBatchNorm on 2 ranks', async () => {
  assert.equal(mpiMissing, '', mpiMissing);
  const r = ok(await run([...MPIRUN, '-np', '2', process.execPath, WORKER, 'world']), 'dist-worker world');
  assert.deepEqual(r.stdout.trim().split('\n').sort(), ['ok 0', 'ok 1']);
});

test('lenet on 2 ranks equals 1 process with the same global batch; resuming it in 1 process continues the same run', async () => {
  assert.equal(mpiMissing, '', mpiMissing);
  const one = join(work, 'lenet-1');
  const two = join(work, 'lenet-2');
  const args = ['train', 'lenet', ...SMALL, '--epochs', '1', '--backend', 'native'];
  ok(await run(convnet([...args, '--out', one])), '1 process');
  const r = ok(await run([...MPIRUN, '-np', '2', ...convnet([...args, '--out', two])]), '2 ranks');
  // Rank 0 alone prints (and writes): one setup line, one epoch line.
  assert.equal(r.stdout.split('\n').filter((l) => l.startsWith('lenet: 256 training')).length, 1, r.stdout);
  assert.match(r.stdout, /2 processes x 1 threads/);
  assertSameWeights(weightsOf(two), weightsOf(one), 1e-5, 'lenet 2 ranks vs 1 process');
  const [m1, m2] = [metrics(one)[0]!, metrics(two)[0]!];
  assert.equal(m2.world_size, 2);
  assert.equal(m1.world_size, 1);
  // The reduced epoch sums are the world's: the same losses and accuracy as one process.
  assert.ok(Math.abs(m2.train_loss! - m1.train_loss!) < 1e-5 && Math.abs(m2.val_loss! - m1.val_loss!) < 1e-5, JSON.stringify([m1, m2]));
  assert.equal(m2.val_acc, m1.val_acc);

  // Epoch 2 in one process: from the 2-rank checkpoint, and (the reference) from the 1-process one.
  ok(await run(convnet(['train', 'lenet', '--out', two, '--resume', '--epochs', '2'])), 'resume 2 -> 1');
  ok(await run(convnet(['train', 'lenet', '--out', one, '--resume', '--epochs', '2'])), 'resume 1 -> 1');
  assertSameWeights(weightsOf(two), weightsOf(one), 1e-5, 'resumed 2 -> 1 vs 1 process');
  assert.deepEqual(metrics(two).map((m) => m.world_size), [2, 1]);
  assert.ok(Math.abs(metrics(two)[1]!.train_loss! - metrics(one)[1]!.train_loss!) < 1e-5);
});

test("AlexNet's layers (no dropout) on 2 ranks equal 1 process: 46.8M parameters in 3 buckets", async () => {
  assert.equal(mpiMissing, '', mpiMissing);
  const one = join(work, 'alexnet-1.safetensors');
  const two = join(work, 'alexnet-2.safetensors');
  // 2 steps of a global batch of 4 at 224x224.
  const r1 = ok(await run([process.execPath, WORKER, 'train', one, 'native', '2', '4']), '1 process');
  const r2 = ok(await run([...MPIRUN, '-np', '2', process.execPath, WORKER, 'train', two, 'native', '2', '4']), '2 ranks');
  const buckets = (JSON.parse(r2.stdout.trim()) as { buckets: number[] }).buckets;
  assert.deepEqual(buckets, (JSON.parse(r1.stdout.trim()) as { buckets: number[] }).buckets);
  assert.equal(buckets.reduce((s, n) => s + n, 0), 46_764_746);
  assert.ok(buckets.length >= 3 && buckets.some((n) => n * 4 > 25e6), JSON.stringify(buckets));
  assertSameWeights(loadSafetensors(two).tensors, loadSafetensors(one).tensors, 1e-5, 'alexnet layers 2 ranks vs 1 process');
});

test('bnlenet with --sync-bn on 2 ranks equals 1 process (global batch statistics)', async () => {
  assert.equal(mpiMissing, '', mpiMissing);
  const one = join(work, 'bn-1');
  const two = join(work, 'bn-sync-2');
  const args = ['train', 'bnlenet', ...SMALL, '--epochs', '1', '--backend', 'reference'];
  ok(await run(convnet([...args, '--out', one])), '1 process');
  const r = ok(await run(convnet([...args, '--out', two, '--nproc', '2', '--sync-bn'])), '2 ranks --sync-bn');
  assert.match(r.stdout, /2 processes x \d+ threads, sync-bn/);
  assertSameWeights(weightsOf(two), weightsOf(one), 1e-5, 'bnlenet --sync-bn vs 1 process');
});

test('bnlenet without --sync-bn on 2 ranks equals 1 process normalizing each half batch by itself', async () => {
  assert.equal(mpiMissing, '', mpiMissing);
  const two = join(work, 'bn-2');
  ok(await run(convnet(['train', 'bnlenet', ...SMALL, '--epochs', '1', '--backend', 'reference', '--out', two, '--nproc', '2'])), '2 ranks');

  // The emulation: the same data order and initial weights as `convnet train` (seed 4); each
  // global batch of 32 split as the ranks split it (rank r: rows r, r + 2, ...), the gradient of
  // the mean of both halves' losses (= the average of the ranks' gradients), rank 0's statistics.
  const prev = cn.getBackend().name as 'native' | 'reference';
  cn.setBackend('reference');
  try {
    const data = await loadData({ data: 'fashion-mnist', batchSize: 32, resize: [28, 28], seed: 4, limitTrain: 256, limitVal: 64 });
    cn.manualSeed(4);
    const model = createModel('bnlenet', { lr: 0.1, numClasses: 10, inChannels: 1 });
    // As `convnet train` does for bnlenet: d2l's apply_init(init_cnn) on the first global batch.
    const first = data.firstTrainBatch();
    model.applyInit([first.x], cn.nn.initCnn);
    cn.dispose([first.x, first.y]);
    const optimizer = model.configureOptimizers();
    const params = new Set<Tensor>(model.parameters());
    const buffers = () => Object.entries(model.stateDict()).filter(([, t]) => !params.has(t));
    model.train();
    for await (const batch of data.trainLoader()) {
      cn.tidy(() => {
        const x = batch.x.toArray();
        const y = batch.y.toArray();
        const per = x.length / y.length;
        const half = (r: number) => {
          const rows = Array.from({ length: y.length / 2 }, (_, i) => 2 * i + r);
          const xs = new Float32Array(rows.length * per);
          rows.forEach((row, i) => xs.set(x.subarray(row * per, (row + 1) * per), i * per));
          return { x: cn.tensor(xs, { shape: [rows.length, ...batch.x.shape.slice(1)] }), y: cn.tensor(Int32Array.from(rows, (row) => y[row]!)) };
        };
        optimizer.zeroGrad();
        const l0 = model.trainingStep(half(0));
        const rank0Stats = Object.fromEntries(buffers().map(([n, t]) => [n, cn.tensor(t.toArray(), { shape: t.shape, dtype: t.dtype })]));
        const l1 = model.trainingStep(half(1));
        model.loadStateDict(rank0Stats, { strict: false });
        l0.add(l1).mul(0.5).backward();
        optimizer.step();
      });
      batch.x.dispose();
      batch.y.dispose();
    }
    assertSameWeights(weightsOf(two), model.stateDict(), 1e-5, 'bnlenet 2 ranks vs the per-half emulation');
  } finally {
    cn.setBackend(prev);
  }
});

/** Pids of this machine's processes whose command line holds `marker` and that are MPI rank `rank`. */
function rankPids(marker: string, rank: number): number[] {
  const pids: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (!readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker)) continue;
      if (readFileSync(`/proc/${p}/environ`, 'utf8').split('\0').includes(`OMPI_COMM_WORLD_RANK=${rank}`)) pids.push(Number(p));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

test('a killed rank ends the world within seconds in one line; the checkpoint survives and --resume continues', async () => {
  assert.equal(mpiMissing, '', mpiMissing);
  const dir = join(work, 'killed');
  const pending = run(convnet(['train', 'lenet', ...SMALL, '--epochs', '200', '--backend', 'native', '--out', dir, '--nproc', '2']));
  const ckpt = join(dir, 'checkpoint.safetensors');
  const t0 = performance.now();
  while (!existsSync(ckpt) && performance.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 100));
  assert.ok(existsSync(ckpt), 'no checkpoint within 2 minutes');
  const pids = rankPids(dir, 1);
  assert.equal(pids.length, 1, `rank 1's process: ${JSON.stringify(pids)}`);
  const killedAt = performance.now();
  process.kill(pids[0]!, 'SIGKILL');
  const r = await pending;
  const seconds = (performance.now() - killedAt) / 1000;
  assert.notEqual(r.status, 0);
  assert.ok(seconds < 10, `the world took ${seconds.toFixed(1)} s to end`);
  assertOneLine(r.stderr, 'convnet: rank 1 on HOST was killed by signal 9 (Killed); the other ranks were stopped');
  // Nothing else on stderr: mpirun's notices were folded into that line.
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  const { state, weights } = loadCheckpoint(ckpt);
  assert.ok(state.epoch >= 1);
  cn.dispose([weights, state.optimizer]);
  const resumed = ok(await run(convnet(['train', 'lenet', '--out', dir, '--resume', '--epochs', String(state.epoch + 1)])), 'resume');
  assert.match(resumed.stdout, new RegExp(`resuming .* after epoch ${state.epoch}`));
  assert.equal(metrics(dir).length, state.epoch + 1);
});

/** Our one line on stderr matches `pattern` (`HOST` stands for the machine's name as MPI gives it). */
function assertOneLine(stderr: string, pattern: string): void {
  const lines = ourLines(stderr);
  assert.equal(lines.length, 1, stderr);
  const escaped = pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace('HOST', '\\S+');
  assert.match(lines[0]!, new RegExp(`^${escaped}$`), stderr);
}

test('a rank that throws ends the world within seconds with one line naming it and the cause', async () => {
  assert.equal(mpiMissing, '', mpiMissing);
  const r = await run([...MPIRUN, '-np', '2', process.execPath, WORKER, 'throw']);
  assert.notEqual(r.status, 0);
  assertOneLine(r.stderr, 'convnet: rank 1 of 2 on HOST: boom at step 2');
  assert.ok(r.seconds < 60, `took ${r.seconds} s`);
});

test('ranks started differently, or a rank that cannot start, are refused before any step in one line', async () => {
  assert.equal(mpiMissing, '', mpiMissing);
  const dir = join(work, 'refused');
  const base = convnet(['train', 'lenet', ...SMALL, '--epochs', '1', '--out', dir]);
  const r = await run([...MPIRUN, '-np', '1', ...base, '--lr', '0.1', ':', '-np', '1', ...base, '--lr', '0.2']);
  assert.equal(r.status, 2, r.stderr);
  assertOneLine(r.stderr, 'convnet: rank 1 of 2 on HOST: started differently from rank 0: lr 0.2 vs 0.1; every rank must run the same model, flags and data');
  assert.equal(existsSync(dir), false, 'a refused world writes nothing');
  // Rank 1 is asked to resume a run that does not exist; rank 0 would start afresh.
  const r2 = await run([...MPIRUN, '-np', '1', ...base, ':', '-np', '1', ...base, '--resume']);
  assert.equal(r2.status, 1, r2.stderr);
  assertOneLine(r2.stderr, `convnet: rank 1 of 2 on HOST: --resume: no checkpoint.safetensors in ${dir} (nothing to resume)`);
  assert.equal(existsSync(dir), false);
  // Every rank fails the same way: one line (rank 0's), through --nproc's filter of mpirun's notices.
  const r3 = await run(convnet(['train', 'lenet', ...SMALL, '--epochs', '1', '--out', dir, '--nproc', '3']));
  assert.equal(r3.status, 2, r3.stderr);
  assert.equal(r3.stderr.trim().split('\n').length, 1, r3.stderr);
  assertOneLine(r3.stderr, 'convnet: rank 0 of 3 on HOST: --batch-size 32 is the global batch and must be divisible by the 3 processes');
});
