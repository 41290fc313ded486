/**
 * Data-stall benchmark: one (possibly truncated) epoch of Fashion-MNIST at the lecture's AlexNet
 * settings (resize 224, batch 128) with a simulated training step, reporting the share of time
 * the training thread spent waiting for data.
 *
 *   node dist/bench/data.js [--model alexnet] [--step-ms 500] [--limit 60] [--workers 1] [--contend] [--batch 128] [--resize 224]
 *
 * --model    train this zoo model for real (native backend, the Trainer's `trainStep`: forward,
 *            cross-entropy, backward, SGD) on each batch instead of a simulated step; the model's
 *            input size is used unless --resize is given. This is the measurement that counts: the
 *            loader's worker then competes with oneDNN's OpenMP threads for the two cores.
 * --step-ms  busy-wait per step on the main thread (the native AlexNet step at 224 px takes ~1-2 s
 *            here; 500 ms is a harder target for the loader).
 * --limit    batches to run (0 = the whole epoch of 469 batches).
 * --contend  while a step runs, keep every other core busy too (as oneDNN's OpenMP threads do),
 *            so the loader's worker competes for CPU as it would in real training.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { FashionMNIST } from '../src/data/index.js';
import * as cn from '../src/index.js';
import { createModel, modelEntry } from '../src/models/index.js';
import { trainStep } from '../src/train/index.js';
import type { Classifier, OptimizerLike } from '../src/train/index.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

function strArg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const modelName = strArg('model');
const stepMs = arg('step-ms', 500);
const limit = arg('limit', 60);
const workers = arg('workers', 1);
const batch = arg('batch', 128);
const resize = arg('resize', modelName !== undefined ? modelEntry(modelName).inputSize[0] : 224);
const contend = process.argv.includes('--contend') && modelName === undefined;

let model: Classifier | null = null;
let optimizer: OptimizerLike | null = null;
if (modelName !== undefined) {
  if (!cn.nativeAvailable()) throw new Error('bench/data: --model needs the native backend (npm run build:native)');
  cn.setBackend('native');
  cn.manualSeed(0);
  model = createModel(modelName);
  model.materialize([1, 1, resize, resize]);
  model.train();
  optimizer = model.configureOptimizers();
}

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin, as a synchronous native training step blocks the thread
  }
}

// Contention threads spin while flag[0] === 1.
const flag = new Int32Array(new SharedArrayBuffer(4));
const spinners: Worker[] = [];
if (contend) {
  for (let i = 0; i < Math.max(0, availableParallelism() - 1); i++) {
    const w = new Worker(
      `const { workerData } = require('node:worker_threads');
       const f = new Int32Array(workerData);
       for (;;) { Atomics.wait(f, 0, 0); while (Atomics.load(f, 0) === 1) {} }`,
      { eval: true, workerData: flag.buffer },
    );
    w.unref();
    spinners.push(w);
  }
}

const t0 = performance.now();
const data = FashionMNIST({ batchSize: batch, resize, numWorkers: workers, seed: 0 });
const loadMs = performance.now() - t0;
const loader = data.trainLoader();
const total = limit > 0 ? Math.min(limit, loader.length) : loader.length;

let n = 0;
let stepSeconds = 0;
const losses: number[] = [];
const start = performance.now();
for (const { x, y } of loader) {
  const s0 = performance.now();
  if (model !== null) {
    losses.push(trainStep(model, optimizer!, { x, y })); // disposes nothing of the batch: done below
  } else {
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    busyWait(stepMs);
    Atomics.store(flag, 0, 0);
  }
  stepSeconds += (performance.now() - s0) / 1000;
  x.dispose();
  y.dispose();
  if (++n >= total) break;
}
const wall = (performance.now() - start) / 1000;
for (const w of spinners) void w.terminate();

const wait = loader.waitSeconds;
const inNext = loader.loadSeconds;
console.log(
  `FashionMNIST resize ${resize}, batch ${batch}, numWorkers ${workers}, ` +
    (modelName !== undefined
      ? `real ${modelName} training steps (native), mean step ${((stepSeconds * 1000) / n).toFixed(0)} ms, loss ${losses[0]?.toFixed(3)} -> ${losses.at(-1)?.toFixed(3)}`
      : `simulated step ${stepMs} ms${contend ? ', other cores busy' : ''}`),
);
console.log(`dataset load (gunzip + validation): ${(loadMs / 1000).toFixed(2)} s`);
console.log(`${n} batches in ${wall.toFixed(2)} s (${((wall * 1000) / n).toFixed(1)} ms/batch)`);
console.log(`waiting for data: ${wait.toFixed(3)} s = ${((100 * wait) / wall).toFixed(2)}% of the epoch`);
console.log(
  `in next() incl. copying batches into tensors: ${inNext.toFixed(3)} s = ${((100 * inNext) / wall).toFixed(2)}% ` +
    `(${((inNext * 1000) / n).toFixed(1)} ms/batch)`,
);
