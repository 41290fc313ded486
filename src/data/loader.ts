/**
 * `DataLoader`: batches of a `Dataset` as tensors, for a synchronous training loop
 * (`for (const batch of loader)`) or an asynchronous one (`for await`).
 *
 * - Shuffling: each epoch's order is `generator.permutation(n)`; random augmentations draw from
 *   a per-batch seed derived from one number drawn per epoch. So an epoch depends only on the
 *   generator's state, never on `numWorkers`; save `loader.generator.getState()` to resume.
 * - `numWorkers >= 1`: worker threads prepare batches (read/decode, resize, augment, normalize)
 *   into a ring of SharedArrayBuffer slots a few batches ahead; the main thread blocks with
 *   `Atomics.wait` only when the next batch is not ready yet (measured in `waitSeconds`), copies
 *   the slot into tensors and hands the slot back. Workers are started per iteration (as
 *   PyTorch's default `persistent_workers=False`), are `unref()`-ed so they never keep the process
 *   alive, and are terminated when the iteration ends, breaks (`return()`), or throws.
 * - `numWorkers: 0`: batches are prepared on the calling thread (the time counts as waiting).
 */
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { tensor } from '../tensor/creation.js';
import { Generator, defaultGenerator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Dataset } from './dataset.js';
import { BatchPreparer, batchSeed } from './pipeline.js';
import {
  ALIVE,
  ERR_BYTES,
  ERRLEN,
  ERROR,
  EXITED,
  READY_ERROR,
  STOP,
  countIndex,
  ctrlLength,
  readyIndex,
  turnIndex,
  waitAsync,
  type WorkerInit,
} from './ring.js';

/** A minibatch as the data modules yield it: images `x` float32 [B, C, H, W] (or [B, features]), labels `y` int32 [B]. */
export interface Batch {
  /** Inputs, float32 [B, C, H, W] (or [B, features]). */
  x: Tensor;
  /** Class indices, int32 [B]. */
  y: Tensor;
}

/**
 * Chooses this process's part of every epoch's order, as PyTorch's `sampler=` argument in
 * data-parallel training (`dist.DistributedSampler` implements it). The loader still draws the
 * whole epoch's order from its generator, so the order does not depend on the number of processes.
 */
export interface Sampler {
  /** Samples this process gets per epoch out of a dataset of `n`. */
  numSamples(n: number): number;
  /** This process's samples, in order, from the epoch's order of all `n` samples. */
  select(order: Int32Array): Int32Array;
}

/** Options of `DataLoader`. */
export interface DataLoaderOptions {
  /** Samples per batch (default 64). */
  batchSize?: number;
  /** Reshuffle every epoch (default false). */
  shuffle?: boolean;
  /** Drop the last incomplete batch (default false). */
  dropLast?: boolean;
  /** Worker threads preparing batches; 0 prepares them on the calling thread (default 0). */
  numWorkers?: number;
  /** Batches each worker may prepare ahead (default 2, as PyTorch's prefetch_factor). */
  prefetchFactor?: number;
  /** Source of shuffles and augmentation seeds (default: seeded from the global generator). */
  generator?: Generator;
  /** Seed of a new generator (alternative to `generator`). */
  seed?: number;
  /** Seconds to wait for one batch before failing (default 0 = forever, as PyTorch). */
  timeout?: number;
  /** Takes this process's part of each epoch's order (default: all of it). */
  sampler?: Sampler;
}

/** How long the workers may take to start before the loader gives up (ms). */
const STARTUP_TIMEOUT_MS = 60_000;

function workerUrl(): URL {
  // Running from TypeScript sources (e.g. with tsx) the sibling is a .ts file.
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./loader-worker${ext}`, import.meta.url);
}

interface EpochPlan {
  order: Int32Array;
  numBatches: number;
  epochSeed: number;
}

/** Workers and shared buffers of one iteration. */
class WorkerRing {
  readonly ctrl: Int32Array;
  readonly err: Uint8Array;
  readonly xs: SharedArrayBuffer;
  readonly ys: SharedArrayBuffer;
  readonly slots: number;
  private workers: Worker[] = [];
  private readonly numWorkers: number;
  private readonly startedAt = performance.now();

  constructor(
    private readonly loader: DataLoader,
    plan: EpochPlan,
    sampleSize: number,
  ) {
    const B = loader.batchSize;
    const W = Math.max(1, Math.min(loader.numWorkers, plan.numBatches));
    this.numWorkers = W;
    this.slots = Math.max(1, Math.min(plan.numBatches, Math.max(2, W * loader.prefetchFactor)));
    this.ctrl = new Int32Array(new SharedArrayBuffer(ctrlLength(this.slots) * 4));
    const errSab = new SharedArrayBuffer(ERR_BYTES);
    this.err = new Uint8Array(errSab);
    this.xs = new SharedArrayBuffer(this.slots * B * sampleSize * 4);
    this.ys = new SharedArrayBuffer(this.slots * B * 4);
    for (let s = 0; s < this.slots; s++) {
      this.ctrl[turnIndex(s)] = s;
      this.ctrl[readyIndex(s)] = -1;
    }
    for (let w = 0; w < W; w++) {
      const init: WorkerInit = {
        spec: loader.dataset.spec,
        ctrl: this.ctrl.buffer as SharedArrayBuffer,
        err: errSab,
        xs: this.xs,
        ys: this.ys,
        order: plan.order,
        numBatches: plan.numBatches,
        batchSize: B,
        slots: this.slots,
        workers: W,
        worker: w,
        epochSeed: plan.epochSeed,
        sampleSize,
      };
      const worker = new Worker(workerUrl(), { workerData: init });
      worker.unref();
      // Workers report their errors through shared memory. An error the worker could not catch
      // (e.g. its module failed to load) arrives here, when the event loop runs: record it the same
      // way so that an async loop sees it (a sync loop falls back to the startup timeout).
      worker.on('error', (e: Error) => this.recordError(`worker thread failed: ${e.message}`));
      this.workers.push(worker);
    }
  }

  private recordError(msg: string): void {
    if (Atomics.compareExchange(this.ctrl, ERROR, 0, 1) === 0) {
      const bytes = new TextEncoder().encode(msg).subarray(0, ERR_BYTES);
      this.err.set(bytes);
      Atomics.store(this.ctrl, ERRLEN, bytes.length);
    }
    for (let s = 0; s < this.slots; s++) {
      Atomics.store(this.ctrl, readyIndex(s), READY_ERROR);
      Atomics.notify(this.ctrl, readyIndex(s));
    }
  }

  /** Throws the workers' error, or a startup/timeout error. */
  check(waitedMs: number, idx: number, b: number): void {
    if (Atomics.load(this.ctrl, ERROR) !== 0) {
      const len = Atomics.load(this.ctrl, ERRLEN);
      const msg = new TextDecoder().decode(this.err.slice(0, len));
      throw new Error(`DataLoader worker: ${msg}`);
    }
    // (Re-read READY: a worker may have finished the batch just before exiting.)
    if (Atomics.load(this.ctrl, EXITED) >= this.numWorkers && Atomics.load(this.ctrl, idx) !== b) {
      throw new Error('DataLoader: the worker threads exited before preparing all batches (see stderr)');
    }
    if (Atomics.load(this.ctrl, ALIVE) === 0 && performance.now() - this.startedAt > STARTUP_TIMEOUT_MS) {
      throw new Error(`DataLoader: no worker thread started within ${STARTUP_TIMEOUT_MS / 1000} s (see stderr)`);
    }
    const t = this.loader.timeout;
    if (t > 0 && waitedMs > t * 1000) throw new Error(`DataLoader: timed out after ${t} s waiting for a batch`);
  }

  /** Blocks until batch b is in its slot; returns the slot. */
  waitSync(b: number): number {
    const s = b % this.slots;
    const idx = readyIndex(s);
    const t0 = performance.now();
    for (;;) {
      const v = Atomics.load(this.ctrl, idx);
      if (v === b) return s;
      this.check(performance.now() - t0, idx, b);
      Atomics.wait(this.ctrl, idx, v, 1000);
    }
  }

  /** Resolves when batch b is in its slot; returns the slot. */
  async waitAsync(b: number): Promise<number> {
    const s = b % this.slots;
    const idx = readyIndex(s);
    const t0 = performance.now();
    for (;;) {
      const v = Atomics.load(this.ctrl, idx);
      if (v === b) return s;
      this.check(performance.now() - t0, idx, b);
      const r = waitAsync(this.ctrl, idx, v, 1000);
      if (r.async) {
        // A pending waitAsync does not keep the event loop alive (and the workers are unref'd).
        const keepAlive = setInterval(() => undefined, 1 << 30);
        try {
          await r.value;
        } finally {
          clearInterval(keepAlive);
        }
      }
    }
  }

  /** Views of slot s holding `count` samples. */
  views(s: number, sampleSize: number): { x: Float32Array; y: Int32Array; count: number } {
    const B = this.loader.batchSize;
    const count = Atomics.load(this.ctrl, countIndex(s));
    return {
      x: new Float32Array(this.xs, s * B * sampleSize * 4, count * sampleSize),
      y: new Int32Array(this.ys, s * B * 4, count),
      count,
    };
  }

  /** Gives slot s (which held batch b) back to the workers for batch b + slots. */
  release(s: number, b: number): void {
    if (Atomics.load(this.ctrl, readyIndex(s)) === b) Atomics.store(this.ctrl, readyIndex(s), -1);
    Atomics.store(this.ctrl, turnIndex(s), b + this.slots);
    Atomics.notify(this.ctrl, turnIndex(s));
  }

  /** Stops and terminates the workers (idempotent). */
  close(): void {
    if (this.workers.length === 0) return;
    Atomics.store(this.ctrl, STOP, 1);
    for (let s = 0; s < this.slots; s++) Atomics.notify(this.ctrl, turnIndex(s));
    for (const w of this.workers) void w.terminate().catch(() => undefined);
    this.workers = [];
  }
}

const ringFinalizer = new FinalizationRegistry<WorkerRing>((ring) => ring.close());

/**
 * One pass over a DataLoader. Sync and async iterator; `return()` (what `break` calls) stops its
 * workers.
 */
export class EpochIterator implements IterableIterator<Batch>, AsyncIterable<Batch> {
  private b = 0;
  private ring: WorkerRing | null = null;
  private preparer: BatchPreparer | null = null;
  private bufX: Float32Array | null = null;
  private bufY: Int32Array | null = null;
  private done = false;
  private readonly sampleShape: [number, number, number];
  private readonly sampleSize: number;

  /** @internal Created by `DataLoader`. */
  constructor(
    private readonly loader: DataLoader,
    private readonly plan: EpochPlan,
    private readonly onFinish: (stats: { waitMs: number; loadMs: number; batches: number }) => void,
  ) {
    this.sampleShape = loader.dataset.sampleShape;
    this.sampleSize = this.sampleShape[0] * this.sampleShape[1] * this.sampleShape[2];
    if (loader.numWorkers > 0 && plan.numBatches > 0) {
      this.ring = new WorkerRing(loader, plan, this.sampleSize);
      ringFinalizer.register(this, this.ring, this);
    }
  }

  private waitMs = 0;
  private loadMs = 0;

  /** Batches in this pass. */
  get length(): number {
    return this.plan.numBatches;
  }

  private positions(b: number): Int32Array {
    const B = this.loader.batchSize;
    const start = b * B;
    return this.plan.order.subarray(start, Math.min(start + B, this.plan.order.length));
  }

  private localBuffers(count: number): { x: Float32Array; y: Int32Array } {
    const B = this.loader.batchSize;
    this.bufX ??= new Float32Array(B * this.sampleSize);
    this.bufY ??= new Int32Array(B);
    return { x: this.bufX.subarray(0, count * this.sampleSize), y: this.bufY.subarray(0, count) };
  }

  private makeBatch(x: Float32Array, y: Int32Array, count: number): Batch {
    const [c, h, w] = this.sampleShape;
    return {
      x: tensor(x, { shape: [count, c, h, w] }),
      y: tensor(y, { shape: [count], dtype: 'int32' }),
    };
  }

  private finish(): IteratorResult<Batch> {
    if (!this.done) {
      this.done = true;
      this.ring?.close();
      ringFinalizer.unregister(this);
      this.onFinish({ waitMs: this.waitMs, loadMs: this.loadMs, batches: this.b });
    }
    return { done: true, value: undefined };
  }

  private fromSlot(s: number, b: number): Batch {
    const v = this.ring!.views(s, this.sampleSize);
    try {
      return this.makeBatch(v.x, v.y, v.count);
    } finally {
      this.ring!.release(s, b);
    }
  }

  /** The next batch, blocking until it is ready. */
  next(): IteratorResult<Batch> {
    if (this.done || this.b >= this.plan.numBatches) return this.finish();
    const t0 = performance.now();
    const b = this.b;
    try {
      let batch: Batch;
      if (this.ring !== null) {
        const s = this.ring.waitSync(b);
        this.waitMs += performance.now() - t0;
        batch = this.fromSlot(s, b);
      } else {
        this.preparer ??= new BatchPreparer(this.loader.dataset.spec);
        const pos = this.positions(b);
        const { x, y } = this.localBuffers(pos.length);
        this.preparer.prepareSync(pos, batchSeed(this.plan.epochSeed, b), x, y);
        this.waitMs += performance.now() - t0;
        batch = this.makeBatch(x, y, pos.length);
      }
      this.b++;
      this.loadMs += performance.now() - t0;
      this.loader.lastWaitSecondsLive = this.waitMs / 1000;
      return { done: false, value: batch };
    } catch (e) {
      this.finish();
      throw e;
    }
  }

  /** Ends the pass early (what `break` calls): stops the workers. */
  return(): IteratorResult<Batch> {
    return this.finish();
  }

  /** The next batch, without blocking the event loop. */
  async nextAsync(): Promise<IteratorResult<Batch>> {
    if (this.done || this.b >= this.plan.numBatches) return this.finish();
    const t0 = performance.now();
    const b = this.b;
    try {
      let batch: Batch;
      if (this.ring !== null) {
        const s = await this.ring.waitAsync(b);
        this.waitMs += performance.now() - t0;
        batch = this.fromSlot(s, b);
      } else {
        this.preparer ??= new BatchPreparer(this.loader.dataset.spec);
        const pos = this.positions(b);
        const { x, y } = this.localBuffers(pos.length);
        await this.preparer.prepare(pos, batchSeed(this.plan.epochSeed, b), x, y);
        this.waitMs += performance.now() - t0;
        batch = this.makeBatch(x, y, pos.length);
      }
      this.b++;
      this.loadMs += performance.now() - t0;
      this.loader.lastWaitSecondsLive = this.waitMs / 1000;
      return { done: false, value: batch };
    } catch (e) {
      this.finish();
      throw e;
    }
  }

  [Symbol.iterator](): this {
    return this;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Batch> {
    const self = this;
    return {
      next: () => self.nextAsync(),
      return: async () => self.finish(),
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }
}

/**
 * Batches of a dataset, as PyTorch's DataLoader.
 * @example
 * const loader = new DataLoader(ds, { batchSize: 128, shuffle: true, numWorkers: 1, seed: 0 });
 * for (const { x, y } of loader) { trainStep(x, y); x.dispose(); y.dispose(); }
 */
export class DataLoader implements Iterable<Batch>, AsyncIterable<Batch> {
  /** The dataset. */
  readonly dataset: Dataset;
  /** Samples per batch. */
  readonly batchSize: number;
  /** Whether each epoch is reshuffled. */
  readonly shuffle: boolean;
  /** Whether the last incomplete batch is dropped. */
  readonly dropLast: boolean;
  /** Worker threads (0: batches are prepared on the calling thread). */
  readonly numWorkers: number;
  /** Batches prepared ahead per worker. */
  readonly prefetchFactor: number;
  /** Seconds to wait for one batch before failing (0 = forever). */
  readonly timeout: number;
  /** The generator of shuffles and augmentation seeds (save its state to resume). */
  readonly generator: Generator;
  /** This process's part of each epoch (null: every sample). */
  readonly sampler: Sampler | null;
  /** Passes started so far. */
  epochs = 0;
  /** @internal Updated while an epoch runs. */
  lastWaitSecondsLive = 0;
  private lastLoadSeconds = 0;
  private lastBatches = 0;

  /** Batches `dataset` (see `DataLoaderOptions`). */
  constructor(dataset: Dataset, opts: DataLoaderOptions = {}) {
    this.dataset = dataset;
    this.batchSize = opts.batchSize ?? 64;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw new Error(`DataLoader: batchSize must be a positive integer, got ${opts.batchSize}`);
    this.shuffle = opts.shuffle ?? false;
    this.dropLast = opts.dropLast ?? false;
    this.numWorkers = opts.numWorkers ?? 0;
    if (!Number.isInteger(this.numWorkers) || this.numWorkers < 0) throw new Error(`DataLoader: numWorkers must be an integer >= 0, got ${opts.numWorkers}`);
    this.prefetchFactor = opts.prefetchFactor ?? 2;
    if (!Number.isInteger(this.prefetchFactor) || this.prefetchFactor < 1) throw new Error(`DataLoader: prefetchFactor must be an integer >= 1, got ${opts.prefetchFactor}`);
    this.timeout = opts.timeout ?? 0;
    this.generator = opts.generator ?? new Generator(opts.seed ?? defaultGenerator.nextUint32());
    this.sampler = opts.sampler ?? null;
  }

  /** Number of batches per epoch. */
  get length(): number {
    const n = this.sampler === null ? this.dataset.length : this.sampler.numSamples(this.dataset.length);
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Number of batches per epoch (as Python's `len`). */
  len(): number {
    return this.length;
  }

  /** Seconds the main thread spent waiting for data in the last (or current) epoch. */
  get waitSeconds(): number {
    return this.lastWaitSecondsLive;
  }

  /** Seconds spent in `next()` in the last epoch: waiting plus copying batches into tensors. */
  get loadSeconds(): number {
    return this.lastLoadSeconds;
  }

  /** Batches delivered in the last finished epoch. */
  get batchesServed(): number {
    return this.lastBatches;
  }

  private plan(): EpochPlan {
    const n = this.dataset.length;
    let all: Int32Array;
    if (this.shuffle) all = this.generator.permutation(n);
    else all = Int32Array.from({ length: n }, (_, i) => i);
    if (this.sampler !== null) all = this.sampler.select(all);
    // Shared, so that the worker threads read the order without a copy.
    const order = new Int32Array(new SharedArrayBuffer(Math.max(1, all.length) * 4), 0, all.length);
    order.set(all);
    const epochSeed = this.dataset.isRandom ? this.generator.nextUint32() : 0;
    return { order, numBatches: this.length, epochSeed };
  }

  /** Starts a pass (draws the epoch's order and seed from the generator now). */
  iterate(): EpochIterator {
    const plan = this.plan();
    this.epochs++;
    this.lastWaitSecondsLive = 0;
    return new EpochIterator(this, plan, (st) => {
      this.lastWaitSecondsLive = st.waitMs / 1000;
      this.lastLoadSeconds = st.loadMs / 1000;
      this.lastBatches = st.batches;
    });
  }

  [Symbol.iterator](): EpochIterator {
    return this.iterate();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Batch> {
    return this.iterate()[Symbol.asyncIterator]();
  }

  /**
   * The first batch of a pass drawn from a copy of the generator (the loader's own state does not
   * move), prepared on the calling thread: d2l's `next(iter(loader))`.
   */
  firstBatch(): Batch {
    const g = new Generator();
    g.setState(this.generator.getState());
    const probe = new DataLoader(this.dataset, {
      batchSize: this.batchSize,
      shuffle: this.shuffle,
      dropLast: this.dropLast,
      numWorkers: 0,
      generator: g,
      sampler: this.sampler ?? undefined,
    });
    const it = probe.iterate();
    const r = it.next();
    it.return();
    if (r.done) throw new Error('DataLoader.firstBatch: the loader has no batches');
    return r.value;
  }
}
