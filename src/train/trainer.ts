/**
 * `Trainer`: d2l's `Trainer` — `fit(model, data)` runs `maxEpochs` epochs of minibatch training
 * and validation and returns one record per epoch. Each training step runs inside `tidy` (forward,
 * backward, optional gradient clipping by global norm, optimizer step), and validation under
 * `noGrad` + `tidy`, so the user never disposes anything and memory stays flat across epochs.
 */
import { EventEmitter } from 'node:events';
import type { Tensor } from '../tensor/tensor.js';
import { tidy } from '../tensor/scope.js';
import { defaultGenerator, manualSeed } from '../tensor/random.js';
import { noGrad } from '../autograd/grad-mode.js';
import { stack } from '../ops/index.js';
import { getBackend } from '../backend/index.js';
import type { Kernels } from '../backend/kernels.js';
import { resolvePrecision, withPrecision, type Precision } from './precision.js';
import type { Parameter } from '../nn/parameter.js';
import type { Batch, Classifier } from './classifier.js';

/** What the trainer needs of an optimizer (`optim.SGD`, `optim.Adam`). */
export interface OptimizerLike {
  /** Updates the parameters from their gradients. */
  step(): void;
  /** Drops the gradients. */
  zeroGrad(): void;
}

/** Batches from a loader: a synchronous or asynchronous iterable of `{ x, y }`. */
export type BatchSource = Iterable<Batch> | AsyncIterable<Batch>;

/**
 * What `fit` needs of a data module (d2l's `DataModule`; `data.FashionMNIST` is one). The trainer
 * owns the batches it receives: it disposes `x` and `y` after each step.
 */
export interface DataModuleLike {
  /** A fresh pass over the (shuffled) training set. */
  trainLoader(): BatchSource;
  /** A pass over the validation set. */
  valLoader(): BatchSource;
}

/** What the trainer needs of a learning-rate schedule (`optim.StepLR`, `optim.OneCycleLR`, ...). */
export interface SchedulerLike {
  /** Advances the schedule (sets the optimizer's lr for the next epoch or batch). */
  step(): void;
}

/** When the trainer steps a schedule: after every epoch (PyTorch's usual loop) or after every batch (`OneCycleLR`). */
export type SchedulerInterval = 'epoch' | 'step';

/**
 * One point of the training-loss curve drawn within epochs (d2l's ProgressBoard): the mean loss of
 * a group of consecutive batches, at the mean of their positions in fractional epochs (batch b of
 * N, 0-based, of epoch e sits at e − 1 + b / N, d2l's `train_batch_idx / num_train_batches`).
 */
export interface CurvePoint {
  /** Fractional epoch (0 = the start of training). */
  epoch: number;
  /** Mean training loss of the group's batches (unweighted, as d2l). */
  loss: number;
}


/**
 * What data-parallel training plugs into `fit` (`dist.DistributedDataParallel` implements it): each
 * process runs this same loop on its own shard of every batch, and these hooks make the processes
 * agree. Without it `fit` trains in this process alone.
 */
export interface DataParallelHooks {
  /** Number of processes training together (each gets 1/worldSize of every global batch). */
  readonly worldSize: number;
  /** Runs after backward, before clipping and the optimizer step: leaves the global gradients in `.grad`. */
  afterBackward(): void;
  /** Runs before each validation pass (e.g. to give every process rank 0's batch-norm statistics). */
  beforeValidation(): void;
  /** Elementwise sums of `values` over all processes (the epoch's loss and accuracy sums). */
  sum(values: readonly number[]): number[];
}

/** Options of the `Trainer`. */
export interface TrainerOptions {
  /** Number of passes over the training set. */
  maxEpochs: number;
  /** Clip gradients to this global L2 norm before each update (0 or undefined: no clipping). */
  gradientClipVal?: number;
  /** Seeds the default generator at the start of `fit` (shuffling, dropout), for reproducible runs. */
  seed?: number;
  /** Called with every event (same events as the `'batch'`/`'epoch'`/`'end'` listeners). */
  onEvent?: (e: TrainerEvent) => void;
  /** Use at most this many training batches per epoch (quick runs). */
  limitTrainBatches?: number;
  /** Use at most this many validation batches per epoch. */
  limitValBatches?: number;
  /** Print one line per epoch: `true` for `console.log`, or a function receiving the lines. */
  log?: boolean | ((line: string) => void);
  /**
   * Read the training losses back from the backend every this many batches (default 20; and at the
   * end of every epoch), not after every step: a GPU backend would stall at each read. Each read
   * emits one `'batch'` event and checks the losses for NaN/Inf; the check runs before that batch's
   * update, so with `logEvery: 1` a diverged batch is never applied.
   */
  logEvery?: number;
  /** Data-parallel training over several processes (see `DataParallelHooks`). */
  dataParallel?: DataParallelHooks;
  /**
   * Points of the within-epoch training-loss curve per epoch (default 2, d2l's
   * `plot_train_per_epoch`): each is the mean loss of ⌊batches / plotTrainPerEpoch⌋ consecutive
   * batches (the epoch's last point takes the remainder too). See `EpochRecord.trainCurve`.
   */
  plotTrainPerEpoch?: number;
  /**
   * 'fp32' (default) or 'bf16-mixed' (PyTorch's CPU autocast to bfloat16, float32 master weights and
   * optimizer state). Where bf16 cannot run natively, fit says so in one line and trains in fp32.
   */
  precision?: Precision;
  /**
   * Called once with the first training batch's shape, before the model runs on it: the place for
   * a memory check that stops `fit` before any kernel runs (`memoryCheck(() => new AlexNet())`
   * throws an `OutOfMemoryError` naming the largest batch that fits).
   */
  checkMemory?: (inputShape: readonly number[]) => void;
}

/** One epoch's results. */
export interface EpochRecord {
  /** 1-based epoch number. */
  epoch: number;
  /** Mean training loss over the epoch's batches (weighted by batch size). */
  trainLoss: number;
  /** Mean validation loss (NaN when there was no validation batch). */
  valLoss: number;
  /** Validation accuracy (NaN when there was no validation batch). */
  valAcc: number;
  /** Training throughput: training images / training seconds. */
  imagesPerSec: number;
  /** Wall time of the epoch (training + validation), seconds. */
  seconds: number;
  /** Training images seen this epoch. */
  trainImages: number;
  /** Wall time of the training part, seconds. */
  trainSeconds: number;
  /** Learning rate (of the first parameter group) at the start of the epoch, when the optimizer has one. */
  lr?: number;
  /** The epoch's points of the within-epoch training-loss curve (`TrainerOptions.plotTrainPerEpoch`). */
  trainCurve?: CurvePoint[];
}

/** Progress, every `logEvery` training batches (and at the end of each epoch). */
export interface BatchEvent {
  type: 'batch';
  epoch: number;
  /** 1-based index of the batch within the epoch. */
  batch: number;
  /** Batches per epoch when the loader knows it (`length`), else null. */
  numBatches: number | null;
  /** Mean training loss of the batches since the previous event (weighted by batch size). */
  loss: number;
  /** Images trained on so far in this epoch (by all processes, in data-parallel training). */
  images: number;
  /** Seconds since the epoch started. */
  elapsed: number;
  /** Throughput so far in this epoch. */
  imagesPerSec: number;
  /** The learning rate the event's last batch was trained with (NaN when unknown). */
  lr: number;
  /** The running epoch's training-curve points so far (live; copy it to keep it). */
  curve: readonly CurvePoint[];
}

/** Emitted after each epoch's validation. */
export interface EpochEvent {
  type: 'epoch';
  record: EpochRecord;
}

/** Emitted when `fit` finishes. */
export interface EndEvent {
  type: 'end';
  records: EpochRecord[];
}

/** Every event the trainer emits. */
export type TrainerEvent = BatchEvent | EpochEvent | EndEvent;

/** What `fit` passes to `onEpochEnd` besides the record. */
export interface EpochEndContext {
  /** The 1-based epoch that just finished (equals `record.epoch`). */
  epoch: number;
  /** The optimizer being trained with (for `stateDict()` in a checkpoint). */
  optimizer: OptimizerLike;
  /** The schedule (already stepped for this epoch), or null. */
  scheduler: SchedulerLike | null;
}

/** Options of one `fit` call; all of them serve resuming an interrupted run. */
export interface FitOptions {
  /** Continue with this optimizer (e.g. restored with `loadStateDict`) instead of `model.configureOptimizers()`. */
  optimizer?: OptimizerLike;
  /** Epochs already completed: the loop runs epochs `startEpoch + 1 .. maxEpochs` (default 0). */
  startEpoch?: number;
  /** Records of the completed epochs, put in front of the new ones in the result and the `'end'` event. */
  records?: readonly EpochRecord[];
  /**
   * State of the default generator (from `defaultGenerator.getState()`) to restore at the start of
   * `fit`, after the trainer's `seed` was applied, so a resumed run draws the same random numbers
   * (dropout, shuffles that use the default generator) as the uninterrupted run would have.
   */
  generatorState?: readonly number[];
  /**
   * Awaited after each epoch's record was logged and emitted (a checkpoint is written here). Not
   * called for an epoch that ended in a `NonFiniteLossError`.
   */
  onEpochEnd?: (record: EpochRecord, ctx: EpochEndContext) => void | Promise<void>;
  /**
   * A learning-rate schedule of `optimizer`, stepped after every epoch (after validation, before
   * `onEpochEnd`, as PyTorch's usual loop) or, with `schedulerInterval: 'step'`, after every
   * optimizer step. Restore its `stateDict` too when resuming.
   */
  scheduler?: SchedulerLike;
  /** `'epoch'` (default) or `'step'` (per batch, e.g. `OneCycleLR`). */
  schedulerInterval?: SchedulerInterval;
}

/**
 * Thrown by `Trainer.fit` when a training loss is NaN or infinite. The check runs before that
 * batch's backward pass and update, and before the epoch's `onEpochEnd`, so diverged weights are
 * never written to a checkpoint and the last good checkpoint stays the newest one.
 */
export class NonFiniteLossError extends Error {
  /** 1-based epoch of the failing batch. */
  readonly epoch: number;
  /** 1-based index of the failing batch in its epoch. */
  readonly batch: number;
  /** The loss value (NaN, Infinity or -Infinity). */
  readonly loss: number;
  /** Learning rate at the time (NaN when unknown). */
  readonly lr: number;

  constructor(epoch: number, batch: number, loss: number, lr: number) {
    super(`training stopped: loss is ${loss} at epoch ${epoch}, batch ${batch} (lr ${lr}); the last good checkpoint is kept`);
    this.name = 'NonFiniteLossError';
    this.epoch = epoch;
    this.batch = batch;
    this.loss = loss;
    this.lr = lr;
  }
}

/**
 * Scales gradients in place so that their global L2 norm is at most `maxNorm` (d2l's
 * `clip_gradients`); returns the norm before clipping. Parameters without a gradient are skipped.
 * @example const norm = clipGradNorm(model.parameters(), 1);
 */
export function clipGradNorm(params: readonly Parameter[] | readonly Tensor[], maxNorm: number): number {
  return tidy(() =>
    noGrad(() => {
      const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null && !g.isDisposed);
      if (grads.length === 0) return 0;
      let sq = 0;
      for (const g of grads) sq += g.square().sum().item();
      const norm = Math.sqrt(sq);
      if (norm > maxNorm) {
        const scale = maxNorm / norm;
        for (const g of grads) g.assign(g.mul(scale));
      }
      return norm;
    }),
  );
}

/**
 * One training step, as the trainer runs it: inside `tidy`, forward + loss (`model.trainingStep`),
 * `zeroGrad`, backward, optional clipping, `optimizer.step()`. Returns the loss value (read back
 * synchronously: CPU backends; the Trainer itself reads losses in bulk). Nothing created by the
 * step survives it (the batch itself is the caller's).
 */
export function trainStep(model: Classifier, optimizer: OptimizerLike, batch: Batch, gradientClipVal = 0, precision: Precision = 'fp32'): number {
  const loss = lossStep(model, optimizer, batch, gradientClipVal, null, undefined, precision);
  const v = loss.item();
  loss.dispose();
  return v;
}

/**
 * A training step that returns its (detached) loss tensor instead of reading it. When `check` is
 * given it runs first (before backward and the update) and may throw, leaving the parameters and
 * optimizer state as they were. (The training-memory estimate runs it on the meta backend.)
 */
export function lossStep(
  model: Classifier,
  optimizer: OptimizerLike,
  batch: Batch,
  gradientClipVal: number,
  check: ((loss: Tensor) => void) | null,
  parallel?: DataParallelHooks,
  precision: Precision = 'fp32',
): Tensor {
  return tidy(() => {
    // The forward pass in its own scope: what it made and does not return is released when it
    // ends, so only what backward reads (freed as backward goes) outlives it.
    const loss = tidy(() => withPrecision(precision, () => model.trainingStep(batch)));
    check?.(loss);
    optimizer.zeroGrad();
    loss.backward();
    parallel?.afterBackward();
    if (gradientClipVal > 0) clipGradNorm(model.parameters(), gradientClipVal);
    optimizer.step();
    return loss.detach();
  });
}

/** The backend a model computes on (its first parameter's; the current one for a model without parameters). */
function backendOf(model: Classifier): Kernels {
  const p = model.parameters().find((t) => t.isMaterialized);
  return p?.kernels ?? getBackend();
}

/** The learning rate to report: the optimizer's `lr` when it has one, else the model's. */
function currentLr(optimizer: OptimizerLike, model: Classifier): number {
  const lr = (optimizer as { lr?: unknown }).lr;
  if (typeof lr === 'number') return lr;
  return typeof model.lr === 'number' ? model.lr : NaN;
}

function lengthOf(src: BatchSource): number | null {
  const n = (src as { length?: unknown }).length;
  return typeof n === 'number' && Number.isFinite(n) ? n : null;
}

function iterate(src: BatchSource): AsyncIterator<Batch> | Iterator<Batch> {
  if (Symbol.asyncIterator in src) return (src as AsyncIterable<Batch>)[Symbol.asyncIterator]();
  return (src as Iterable<Batch>)[Symbol.iterator]();
}

function disposeBatch(b: Batch): void {
  for (const v of Object.values(b)) {
    if (v !== null && typeof v === 'object' && typeof (v as Tensor).dispose === 'function') (v as Tensor).dispose();
  }
}

/** The values of 0-d tensors, read back in one transfer. */
async function stackedValues(ts: readonly Tensor[]): Promise<ArrayLike<number>> {
  const all = tidy(() => noGrad(() => stack(ts)));
  try {
    return await all.data();
  } finally {
    all.dispose();
  }
}

/** Runs `body` on each batch of `src` (at most `limit`), disposing each batch afterwards. */
async function forEachBatch(src: BatchSource, limit: number, body: (b: Batch) => void | Promise<void>): Promise<void> {
  const it = iterate(src);
  let n = 0;
  let done = false;
  try {
    while (n < limit) {
      const r = await it.next();
      if (r.done) {
        done = true;
        break;
      }
      try {
        await body(r.value);
      } finally {
        disposeBatch(r.value);
      }
      n++;
    }
  } finally {
    // Stops a generator early (limit reached or error) so it can release what it holds.
    if (!done) await it.return?.();
  }
}

/** `epoch  3 | train loss 0.4123 | val loss 0.4401 | val acc 0.8412 | 5210 img/s | 12.3 s` */
export function formatEpoch(r: EpochRecord): string {
  return (
    `epoch ${String(r.epoch).padStart(3)} | train loss ${r.trainLoss.toFixed(4)} | val loss ${r.valLoss.toFixed(4)} | ` +
    `val acc ${r.valAcc.toFixed(4)} | ${r.imagesPerSec.toFixed(0)} img/s | ${r.seconds.toFixed(1)} s`
  );
}

/**
 * Groups an epoch's batch losses into `CurvePoint`s: `perEpoch` groups of ⌊N / perEpoch⌋ batches
 * (the last group also takes the remainder), so points never straddle epochs. When the number of
 * batches N is unknown, the points are made at the end of the epoch from the count seen.
 */
class CurveBuilder {
  readonly points: CurvePoint[] = [];
  #losses: number[] = [];
  #group: number[] = [];
  #seen = 0;

  constructor(
    private readonly epoch: number,
    private readonly numBatches: number | null,
    private readonly perEpoch: number,
  ) {}

  #flush(first: number, losses: number[], n: number): void {
    const k = losses.length;
    // Positions (epoch - 1) + b / n for b = first .. first + k - 1: their mean is at first + (k - 1) / 2.
    const x = this.epoch - 1 + (first + (k - 1) / 2) / n;
    this.points.push({ epoch: x, loss: losses.reduce((a, b) => a + b, 0) / k });
  }

  add(loss: number): void {
    this.#seen++;
    const n = this.numBatches;
    if (n === null) {
      this.#losses.push(loss);
      return;
    }
    this.#group.push(loss);
    const size = Math.max(1, Math.floor(n / this.perEpoch));
    // The first perEpoch - 1 full groups are points; the last group takes the rest of the epoch.
    if (this.#group.length >= size && this.points.length < this.perEpoch - 1) {
      this.#flush(this.#seen - this.#group.length, this.#group, n);
      this.#group = [];
    }
  }

  finish(): CurvePoint[] {
    if (this.numBatches === null) {
      const n = this.#seen;
      const size = Math.max(1, Math.floor(n / this.perEpoch));
      for (let start = 0; start < n; ) {
        const end = this.points.length >= this.perEpoch - 1 ? n : start + size;
        this.#flush(start, this.#losses.slice(start, end), n);
        start = end;
      }
    } else if (this.#group.length > 0) {
      // The epoch ended early (fewer batches than announced) or its last group: flush it.
      this.#flush(this.#seen - this.#group.length, this.#group, Math.max(this.numBatches, this.#seen));
    }
    return [...this.points];
  }
}


/**
 * d2l's `Trainer`. Emits `'batch'` (progress), `'epoch'` (an `EpochRecord`) and `'end'` events;
 * `onEvent` receives all of them.
 * @example
 * const trainer = new Trainer({ maxEpochs: 10, gradientClipVal: 1, seed: 0 });
 * trainer.on('epoch', (e) => console.log(formatEpoch(e.record)));
 * const records = await trainer.fit(model, data);
 */
export class Trainer extends EventEmitter {
  /** Epochs per `fit`. */
  readonly maxEpochs: number;
  /** Global-norm clipping threshold (0: off). */
  readonly gradientClipVal: number;
  /** Seed applied at the start of `fit` (undefined: the generator is left as it is). */
  readonly seed: number | undefined;
  /** The optimizer of the last `fit` (from `model.configureOptimizers()`). */
  optimizer: OptimizerLike | null = null;
  /** The precision the last `fit` trained in (bf16-mixed falls back to fp32 where it cannot run). */
  precision: Precision = 'fp32';
  readonly #opts: TrainerOptions;
  readonly #logEvery: number;

  constructor(opts: TrainerOptions) {
    super();
    if (!Number.isInteger(opts.maxEpochs) || opts.maxEpochs < 0) {
      throw new Error(`Trainer: maxEpochs must be a non-negative integer, got ${opts.maxEpochs}`);
    }
    const clip = opts.gradientClipVal ?? 0;
    if (!(clip >= 0) || !Number.isFinite(clip)) throw new Error(`Trainer: gradientClipVal must be >= 0, got ${opts.gradientClipVal}`);
    for (const k of ['limitTrainBatches', 'limitValBatches'] as const) {
      const v = opts[k];
      if (v !== undefined && !(Number.isInteger(v) && v >= 0)) throw new Error(`Trainer: ${k} must be a non-negative integer, got ${v}`);
    }
    const ppe = opts.plotTrainPerEpoch;
    if (ppe !== undefined && !(Number.isInteger(ppe) && ppe >= 1)) throw new Error(`Trainer: plotTrainPerEpoch must be a positive integer, got ${ppe}`);
    const logEvery = opts.logEvery ?? 20;
    if (!Number.isInteger(logEvery) || logEvery < 1) throw new Error(`Trainer: logEvery must be a positive integer, got ${opts.logEvery}`);
    this.#logEvery = logEvery;
    this.maxEpochs = opts.maxEpochs;
    this.gradientClipVal = clip;
    this.seed = opts.seed;
    this.#opts = opts;
  }

  #emit(e: TrainerEvent): void {
    this.#opts.onEvent?.(e);
    this.emit(e.type, e);
  }

  /**
   * Trains `model` on `data.trainLoader()` and validates on `data.valLoader()` after each epoch;
   * returns the per-epoch records. The model is left in eval mode. Throws `NonFiniteLossError` when
   * a training loss is NaN or infinite.
   *
   * Resuming (see `FitOptions`): with the model weights, optimizer, generators and data generator
   * restored from a checkpoint taken after epoch `e`, `fit(model, data, { optimizer, startEpoch: e,
   * records, generatorState })` continues exactly as the uninterrupted run (on the reference
   * backend, bit for bit). `generatorState` is needed because the trainer's `seed` reseeds the
   * default generator at the start of every `fit`.
   * @example
   * await trainer.fit(model, data, { onEpochEnd: (r, { optimizer }) => saveCheckpoint(path, model, state(r, optimizer)) });
   */
  async fit(model: Classifier, data: DataModuleLike, opts: FitOptions = {}): Promise<EpochRecord[]> {
    const startEpoch = opts.startEpoch ?? 0;
    if (!Number.isInteger(startEpoch) || startEpoch < 0 || startEpoch > this.maxEpochs) {
      throw new Error(`Trainer.fit: startEpoch must be an integer in 0..maxEpochs (${this.maxEpochs}), got ${startEpoch}`);
    }
    if (this.seed !== undefined) manualSeed(this.seed);
    if (opts.generatorState !== undefined) defaultGenerator.setState(opts.generatorState);
    const optimizer = opts.optimizer ?? model.configureOptimizers();
    this.optimizer = optimizer;
    const log = this.#opts.log === true ? (l: string) => console.log(l) : this.#opts.log || null;
    const limitTrain = this.#opts.limitTrainBatches ?? Infinity;
    const limitVal = this.#opts.limitValBatches ?? Infinity;
    const logEvery = this.#logEvery;
    const parallel = this.#opts.dataParallel;
    // Every process trains on equal shards (the sampler pads), so the world's count is ours times its size.
    const world = parallel?.worldSize ?? 1;
    const scheduler = opts.scheduler ?? null;
    const driven = (scheduler as { optimizer?: unknown } | null)?.optimizer;
    if (driven !== undefined && driven !== optimizer) {
      throw new Error('Trainer.fit: the scheduler drives another optimizer than the one trained with; pass its optimizer as FitOptions.optimizer');
    }
    const interval = opts.schedulerInterval ?? 'epoch';
    if (interval !== 'epoch' && interval !== 'step') throw new Error(`Trainer.fit: schedulerInterval must be 'epoch' or 'step', got '${String(interval)}'`);
    const perEpoch = this.#opts.plotTrainPerEpoch ?? 2;
    const resolved = resolvePrecision(this.#opts.precision ?? 'fp32', backendOf(model));
    const precision = resolved.precision;
    this.precision = precision;
    if (resolved.notice !== null) (log ?? ((l: string) => console.warn(l)))(`convnet: ${resolved.notice}`);
    const records: EpochRecord[] = [...(opts.records ?? [])];
    for (let epoch = startEpoch + 1; epoch <= this.maxEpochs; epoch++) {
      const t0 = performance.now();
      model.train();
      const loader = data.trainLoader();
      const total = lengthOf(loader);
      const numBatches = total === null ? (Number.isFinite(limitTrain) ? limitTrain : null) : Math.min(total, limitTrain);
      let lossSum = 0;
      let images = 0;
      let batchIndex = 0;
      const epochLr = currentLr(optimizer, model);
      const curve = new CurveBuilder(epoch, numBatches, perEpoch);
      // Losses not read back yet (detached scalars) with their batch sizes and learning rates, read in bulk.
      let pending: { loss: Tensor; n: number; batch: number; lr: number }[] = [];
      const readPending = async (): Promise<void> => {
        if (pending.length === 0) return;
        const batch = pending;
        pending = [];
        let values: ArrayLike<number>;
        try {
          values = await stackedValues(batch.map((p) => p.loss));
        } finally {
          for (const p of batch) p.loss.dispose();
        }
        let sum = 0;
        let count = 0;
        batch.forEach((p, i) => {
          const v = values[i]!;
          if (!Number.isFinite(v)) throw new NonFiniteLossError(epoch, p.batch, v, p.lr);
          sum += v * p.n;
          count += p.n;
          curve.add(v);
        });
        lossSum += sum;
        const elapsed = (performance.now() - t0) / 1000;
        const last = batch[batch.length - 1]!.batch;
        const lr = batch[batch.length - 1]!.lr;
        this.#emit({ type: 'batch', epoch, batch: last, numBatches, loss: sum / count, images, elapsed, imagesPerSec: images / elapsed, lr, curve: curve.points });
      };
      try {
        await forEachBatch(loader, limitTrain, async (batch) => {
          const n = batch.x.shape[0]!;
          batchIndex++;
          if (batchIndex === 1 && epoch === startEpoch + 1) this.#opts.checkMemory?.(batch.x.shape);
          const due = batchIndex % logEvery === 0 || batchIndex === numBatches;
          const lr = currentLr(optimizer, model);
          const loss = lossStep(
            model,
            optimizer,
            batch,
            this.gradientClipVal,
            (l) => {
              // On a read-back, check this batch's loss before its update (CPU backends read it
              // synchronously; a GPU backend checks it with the others, after the update).
              if (!due || l.kernels.toHost === undefined) return;
              const v = l.item();
              if (!Number.isFinite(v)) throw new NonFiniteLossError(epoch, batchIndex, v, lr);
            },
            parallel,
            precision,
          );
          if (scheduler !== null && interval === 'step') scheduler.step();
          images += n * world;
          pending.push({ loss, n, batch: batchIndex, lr });
          if (due) await readPending();
        });
        await readPending();
      } finally {
        for (const p of pending) p.loss.dispose();
      }
      const trainSeconds = (performance.now() - t0) / 1000;

      model.eval();
      parallel?.beforeValidation();
      // Validation sums stay on the backend ([loss * n, correct]) and are read once per epoch.
      let valSums: Tensor | null = null;
      let valImages = 0;
      try {
        await forEachBatch(data.valLoader(), limitVal, (batch) => {
          const n = batch.x.shape[0]!;
          const next = tidy(() =>
            noGrad(() => {
              const r = withPrecision(precision, () => model.validationStep(batch));
              const s = stack([r.loss.to('float32'), r.accuracy.to('float32')]).mul(n);
              return valSums === null ? s : valSums.add(s);
            }),
          ).keep();
          valSums?.dispose();
          valSums = next;
          valImages += n;
        });
      } catch (e) {
        (valSums as Tensor | null)?.dispose();
        throw e;
      }
      let valLossSum = 0;
      let valCorrect = 0;
      if (valSums !== null) {
        const sums = valSums as Tensor;
        [valLossSum, valCorrect] = [...(await sums.data())] as [number, number];
        sums.dispose();
      }
      if (parallel !== undefined) {
        // The world's sums: this process's loss sum covers its own shard (images / world of them).
        [lossSum, valLossSum, valCorrect, valImages] = parallel.sum([lossSum, valLossSum, valCorrect, valImages]);
      }
      const record: EpochRecord = {
        epoch,
        trainLoss: images > 0 ? lossSum / images : NaN,
        valLoss: valImages > 0 ? valLossSum / valImages : NaN,
        valAcc: valImages > 0 ? valCorrect / valImages : NaN,
        imagesPerSec: trainSeconds > 0 ? images / trainSeconds : 0,
        seconds: (performance.now() - t0) / 1000,
        trainImages: images,
        trainSeconds,
        ...(Number.isFinite(epochLr) ? { lr: epochLr } : {}),
        trainCurve: curve.finish(),
      };
      if (scheduler !== null && interval === 'epoch') scheduler.step();
      records.push(record);
      log?.(formatEpoch(record));
      this.#emit({ type: 'epoch', record });
      await opts.onEpochEnd?.(record, { epoch, optimizer, scheduler });
    }
    this.#emit({ type: 'end', records });
    return records;
  }
}
