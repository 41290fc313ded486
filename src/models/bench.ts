/**
 * Training throughput of a zoo model: what the Trainer does per batch (`trainStep`: forward,
 * cross-entropy, zeroGrad, backward, SGD step, all inside `tidy`) timed on one fixed random batch
 * [B, C, H, W] with random labels, so the data pipeline is not measured. Shared by
 * `convnet bench` and bench/train.ts (zoo level: it builds models by name).
 */
import { readFileSync } from 'node:fs';
import { emptyCache, getBackend, memoryStats, resetPeakMemoryStats, type MemoryStats } from '../backend/index.js';
import { randint, randn } from '../tensor/creation.js';
import { manualSeed } from '../tensor/random.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { createModel, modelEntry } from './registry.js';
import type { Batch } from '../data/loader.js';
import type { Classifier } from '../train/classifier.js';
import { trainStep, type OptimizerLike } from '../train/trainer.js';
import { resolvePrecision, withPrecision, type Precision } from '../train/precision.js';
import type { TrainingMemoryEstimate } from '../train/memory.js';
import { checkModelMemory } from './memory.js';

/** Options of `benchTraining`. */
export interface BenchTrainingOptions {
  /** Zoo name of the model. */
  model: string;
  /** Images per step (default 128, the lecture's). */
  batchSize?: number;
  /** Timed steps (default 3); when they take under `minSeconds`, steps are timed until it has passed. */
  steps?: number;
  /** Keep timing until at least this many seconds passed (default 0). */
  minSeconds?: number;
  /** Untimed steps first: primitive creation, first touch of memory (default 1). */
  warmup?: number;
  /** Seed of the weights and the batch (default 0). */
  seed?: number;
  /** 'fp32' (default) or 'bf16-mixed' (falls back to fp32 where bf16 cannot run natively; see `precision` in the result). */
  precision?: Precision;
  /**
   * Check the training-memory estimate against the memory available before allocating anything,
   * and stop with an `OutOfMemoryError` (one line, with the largest batch that fits) when it does not
   * fit (default true).
   */
  checkMemory?: boolean;
  /**
   * Called with the model, optimizer, batch and number of timed steps after the timing and before
   * they are freed (the bench script profiles extra steps here).
   */
  after?: (ctx: { model: Classifier; optimizer: OptimizerLike; batch: Batch; steps: number }) => void;
}

/** What `benchTraining` measured. */
export interface BenchTrainingResult {
  /** Zoo name. */
  model: string;
  /** [B, C, H, W] of the batch. */
  inputShape: number[];
  /** Timed steps. */
  steps: number;
  /** Wall time of the timed steps. */
  seconds: number;
  /** Training images per second: steps * B / seconds. */
  imagesPerSec: number;
  /** The precision the steps ran in. */
  precision: Precision;
  /** Why bf16-mixed ran in fp32 (null when it ran as asked). */
  notice: string | null;
  /** The backend's memory statistics over the benchmark (peaks from its start: initialization, warm-up and timed steps). */
  memory: MemoryStats;
  /** Peak resident memory of the process so far (VmHWM; null where /proc is missing). */
  peakRss: number | null;
  /** The training-memory estimate made before the benchmark (null when `checkMemory` is false). */
  estimate: TrainingMemoryEstimate | null;
}

/** The process's peak resident set size (VmHWM) in bytes, or null off Linux. */
export function peakRss(): number | null {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m === null ? null : Number(m[1]) * 1024;
  } catch {
    return null;
  }
}

/** How the benchmark initializes its model (`model.materialize` on one image), for the estimate. */
const BENCH_INIT = { initBatchSize: 1, init: 'materialize' } as const;

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new Error(`benchTraining: ${name} must be an integer >= ${min}, got ${v}`);
}

/** What both benchmarks set up before timing: the checked options, the model, its batch and optimizer. */
interface BenchSetup {
  batchSize: number;
  warmup: number;
  minSeconds: number;
  steps: number;
  inputShape: number[];
  estimate: TrainingMemoryEstimate | null;
  model: Classifier;
  batch: Batch;
  optimizer: OptimizerLike;
  precision: Precision;
  notice: string | null;
}

/**
 * Checks the options, runs the memory check (CPU backends: the estimate models their memory, not a
 * GPU's) before anything is allocated, then builds the model, batch and optimizer; `fn` times steps
 * on them and everything is freed afterwards, whatever happens.
 */
function withBench<T>(opts: BenchTrainingOptions, fn: (b: BenchSetup) => T): T {
  const batchSize = opts.batchSize ?? 128;
  const warmup = opts.warmup ?? 1;
  const minSeconds = opts.minSeconds ?? 0;
  const steps = opts.steps ?? 3;
  checkInt('batchSize', batchSize, 1);
  checkInt('steps', steps, 1);
  checkInt('warmup', warmup, 0);
  if (!(minSeconds >= 0)) throw new Error(`benchTraining: minSeconds must be >= 0, got ${minSeconds}`);
  const e = modelEntry(opts.model);
  const cpu = getBackend().name !== 'webgpu';
  // Before anything is allocated: a batch that cannot fit stops here, in one line.
  const estimate = cpu && (opts.checkMemory ?? true) ? checkModelMemory(opts.model, { batchSize, ...BENCH_INIT }) : null;
  resetPeakMemoryStats();
  manualSeed(opts.seed ?? 0);
  const inputShape = [batchSize, e.inChannels, e.inputSize[0], e.inputSize[1]];
  const model = createModel(opts.model);
  const batch: Batch = { x: randn(inputShape).keep(), y: randint(0, e.numClasses, [batchSize]).keep() };
  const free = (): void => {
    dispose(batch);
    model.zeroGrad();
    dispose(Object.values(model.stateDict()));
    emptyCache(); // the next model starts from the same allocator state
  };
  let r: T;
  try {
    model.materialize([1, ...inputShape.slice(1)]);
    model.train();
    const optimizer = model.configureOptimizers();
    const { precision, notice } = resolvePrecision(opts.precision ?? 'fp32', batch.x.kernels);
    r = fn({ batchSize, warmup, minSeconds, steps, inputShape, estimate, model, batch, optimizer, precision, notice });
  } catch (err) {
    free();
    throw err;
  }
  // An async `fn` (benchTrainingAsync): free once its steps have finished.
  if (r instanceof Promise) return r.finally(free) as T;
  free();
  return r;
}

/** The result of `steps` timed steps that took `seconds` (memory figures: now, after them). */
function benchResult(opts: BenchTrainingOptions, b: BenchSetup, steps: number, seconds: number): BenchTrainingResult {
  opts.after?.({ model: b.model, optimizer: b.optimizer, batch: b.batch, steps });
  return {
    model: opts.model,
    inputShape: b.inputShape,
    steps,
    seconds,
    imagesPerSec: (steps * b.batchSize) / seconds,
    precision: b.precision,
    notice: b.notice,
    memory: memoryStats(),
    peakRss: peakRss(),
    estimate: b.estimate,
  };
}

/**
 * Times training steps of `opts.model` at its default input size on the current backend.
 * @example benchTraining({ model: 'lenet', batchSize: 128, steps: 10 }).imagesPerSec
 */
export function benchTraining(opts: BenchTrainingOptions): BenchTrainingResult {
  return withBench(opts, (b) => {
    const { model, optimizer, batch, precision, minSeconds } = b;
    for (let i = 0; i < b.warmup; i++) trainStep(model, optimizer, batch, 0, precision);
    let steps = b.steps;
    let t0 = performance.now();
    for (let i = 0; i < steps; i++) trainStep(model, optimizer, batch, 0, precision);
    let seconds = (performance.now() - t0) / 1000;
    if (seconds < minSeconds) {
      // A fast model: run steps until minSeconds have passed (a fixed count from the first estimate
      // falls short when the first steps were slower, e.g. still creating primitives).
      steps = 0;
      t0 = performance.now();
      do {
        trainStep(model, optimizer, batch, 0, precision);
        steps++;
        seconds = (performance.now() - t0) / 1000;
      } while (seconds < minSeconds);
    }
    return benchResult(opts, b, steps, seconds);
  });
}

/** One trainer step that leaves the loss on the device (a GPU cannot read it synchronously). */
function deviceStep(model: Classifier, optimizer: OptimizerLike, batch: Batch, precision: Precision): Tensor {
  return tidy(() => {
    const loss = withPrecision(precision, () => model.trainingStep(batch));
    optimizer.zeroGrad();
    loss.backward();
    optimizer.step();
    return loss.detach();
  });
}

/** Waits until the device finished `loss` (and so every step before it), then frees it. */
async function settle(loss: Tensor): Promise<void> {
  await loss.data();
  loss.dispose();
}

/**
 * `benchTraining` for backends that run asynchronously (webgpu): the same step without reading the
 * loss back each step; the clock stops when the last step's loss has been read back, i.e. when the
 * device finished every timed step. Works on every backend.
 * @example (await benchTrainingAsync({ model: 'bnlenet', batchSize: 64, steps: 5 })).imagesPerSec
 */
export async function benchTrainingAsync(opts: BenchTrainingOptions): Promise<BenchTrainingResult> {
  return withBench(opts, async (b) => {
    const { model, optimizer, batch, precision } = b;
    for (let i = 0; i < b.warmup; i++) await settle(deviceStep(model, optimizer, batch, precision));
    const t0 = performance.now();
    let seconds = 0;
    let done = 0;
    // Steps are queued without waiting for the device; only the last one is read back.
    while (done < b.steps || seconds < b.minSeconds) {
      const loss = deviceStep(model, optimizer, batch, precision);
      done++;
      if (done >= b.steps) {
        await settle(loss);
        seconds = (performance.now() - t0) / 1000;
      } else loss.dispose();
    }
    return benchResult(opts, b, done, seconds);
  });
}
