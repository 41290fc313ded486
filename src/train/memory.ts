/**
 * How much memory training needs, from shapes alone: `estimateTrainingMemory` builds the model on a
 * meta backend that counts bytes as the real backend would hold them (blocked layouts, workspaces,
 * layout temporaries, the caching allocator; see src/backend/meta), runs what the Trainer runs
 * (lazy initialization, then training steps: forward, cross-entropy, backward, optimizer step) and
 * reports the peak, with what each top-level layer keeps for backward, the parameters, gradients
 * and optimizer state. No kernel runs and no tensor memory is allocated.
 *
 * `availableMemory` reads what the machine can still give (MemAvailable, cgroup limits, the
 * address-space limit), and `checkTrainingMemory` turns the two into one clear error before
 * training starts, with the largest batch that fits.
 */
import { readFileSync } from 'node:fs';
import { addon } from '../backend/native/addon.js';
import { backendByName, getBackend, memoryLayout, withKernels, type BackendName } from '../backend/index.js';
import { DTYPE_BYTES, metaKernelsFor, type MetaLayout, type MetaStorage } from '../backend/meta/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { dispose } from '../tensor/scope.js';
import { randint, zeros } from '../tensor/creation.js';
import type { Classifier } from './classifier.js';
import { layerTypeName } from './classifier.js';
import { lossStep, type OptimizerLike } from './trainer.js';

/** Memory of one top-level layer during a training step (bytes). */
export interface LayerMemory {
  /** Name in the model's `net` (`'0'`, `'dense_blk1'`). */
  name: string;
  /** Layer class (`'Conv2d'`). */
  type: string;
  /** Its parameters. */
  params: number;
  /** Their gradients. */
  grads: number;
  /** The optimizer's state for them (momentum buffers, Adam moments). */
  optimizer: number;
  /** What it keeps for backward at the end of the forward pass (activations, workspaces). */
  activations: number;
}

/** The training-memory estimate of one model and input shape (bytes). */
export interface TrainingMemoryEstimate {
  /** The batch shape [N, C, H, W]. */
  inputShape: number[];
  /** The backend the estimate counts for. */
  backend: string;
  /** Per top-level layer. */
  layers: LayerMemory[];
  /** Totals of the layer columns. */
  params: number;
  grads: number;
  optimizer: number;
  /** Everything kept for backward at the end of the forward pass (the layers' sum plus the loss's). */
  activations: number;
  /** Largest total of max-pool workspaces alive at once (part of `activations`). */
  workspace: number;
  /** The shared oneDNN scratchpad (the largest one a primitive asks for). */
  scratchpad: number;
  /** Peak of live tensor bytes over initialization and two training steps. */
  peakLive: number;
  /** Peak of what the caching allocator holds (live + free blocks it keeps for reuse). */
  peakReserved: number;
  /** Memory of the process besides tensors: Node.js, the libraries, code (measured, not estimated). */
  runtime: number;
  /** peakReserved + scratchpad + runtime: the process's expected peak resident memory. */
  total: number;
}

/** Options of `estimateTrainingMemory`. */
export interface EstimateOptions {
  /** Backend to count for (default: the current one; `native` counts oneDNN's layouts and allocator). */
  backend?: BackendName;
  /** Count with this layout instead of the backend's. */
  layout?: MetaLayout;
  /** Number of classes of the labels (default: 10). */
  numClasses?: number;
  /** Batch size of the lazy-initialization forward pass (default: the training batch). */
  initBatchSize?: number;
  /**
   * How the model is initialized before training, as the caller will do it (the cached blocks its
   * forward pass leaves shape the allocator's later reuse): `'applyInit'` (default; d2l's
   * `apply_init`, a training-mode forward pass, as `convnet train`) or `'materialize'`
   * (`Classifier.materialize`: an eval-mode pass without gradients, as `convnet bench`).
   */
  init?: 'applyInit' | 'materialize';
  /** Process memory besides tensors (default: measured now, see `runtimeMemory`). */
  runtime?: number;
  /** The optimizer (default: `model.configureOptimizers()`). */
  optimizer?: (model: Classifier) => OptimizerLike;
}

/**
 * What the process's memory besides tensors grows by once training runs: V8's heap and compiled
 * code, oneDNN's generated kernels and descriptors, thread stacks (measured: 30-34 MB on every seed
 * model between the start of `convnet bench` and the end of its steps, independent of the batch).
 */
export const TRAINING_RUNTIME_GROWTH = 32e6;

/**
 * Resident memory of this process that is not tensor memory of the native backend (bytes), plus
 * what it grows by while training runs (`TRAINING_RUNTIME_GROWTH`).
 */
export function runtimeMemory(): number {
  if (typeof process === 'undefined') return TRAINING_RUNTIME_GROWTH; // a browser: no process figures
  let rss = process.memoryUsage().rss;
  if (addon !== null) {
    const s = addon.memoryStats() as { reserved: number; scratchpad: number };
    rss -= s.reserved + s.scratchpad;
  }
  return Math.max(0, rss) + TRAINING_RUNTIME_GROWTH;
}

function bytesOf(t: Tensor): number {
  return t.size * DTYPE_BYTES[t.dtype];
}

/**
 * Estimates the memory of training `create()` on batches of `inputShape` from shapes alone (on a
 * meta backend; `create` is called inside it and must build a fresh model).
 * @example estimateTrainingMemory(() => new AlexNet(), [128, 1, 224, 224]).total
 */
export function estimateTrainingMemory(create: () => Classifier, inputShape: readonly number[], opts: EstimateOptions = {}): TrainingMemoryEstimate {
  const backend = opts.backend === undefined ? getBackend() : backendByName(opts.backend);
  const layout = opts.layout ?? memoryLayout(opts.backend);
  const runtime = opts.runtime ?? runtimeMemory();
  const k = metaKernelsFor(layout);
  const c = k.counter;
  const shape = [...inputShape];
  const N = shape[0]!;
  return withKernels(k, () => {
    let model: Classifier | null = null;
    let optimizer: OptimizerLike | null = null;
    const batch = { x: zeros(shape).keep(), y: randint(0, opts.numClasses ?? 10, [N]).keep() };
    const removers: (() => void)[] = [];
    try {
      model = create();
      const initShape = [opts.initBatchSize ?? N, ...shape.slice(1)];
      const xi = initShape[0] === N ? batch.x : zeros(initShape).keep();
      if (opts.init === 'materialize') model.materialize(initShape);
      else model.applyInit([xi]);
      if (xi !== batch.x) xi.dispose();
      model.train();
      optimizer = opts.optimizer?.(model) ?? model.configureOptimizers();
      const m = model;
      // Storages made while a top-level layer runs are counted under its name (pre-hooks only: a
      // forward hook would keep containers from releasing its output).
      const children = m.namedLayers();
      for (const [name, layer] of children) {
        removers.push(layer.registerForwardPreHook(() => void (c.tag = name)));
      }
      const before = new Map<string, number>();
      const saved = new Map<string, number>();
      let activations = 0;
      const atForwardEnd = (live: number) => (): void => {
        c.tag = null;
        activations = c.live - live;
        for (const [name] of children) saved.set(name, (c.byTag.get(name) ?? 0) - (before.get(name) ?? 0));
      };
      // Two steps: the second runs its forward pass with the first step's gradients still alive.
      for (let step = 0; step < 2; step++) {
        for (const [name] of children) before.set(name, c.byTag.get(name) ?? 0);
        const live = c.live;
        lossStep(m, optimizer, batch, 0, atForwardEnd(live)).dispose();
      }
      const layers: LayerMemory[] = children.map(([name, layer]) => {
        let params = 0;
        let opt = 0;
        for (const p of layer.parameters()) {
          params += bytesOf(p);
          const st = (optimizer as { state?: Map<Tensor, Record<string, unknown>> }).state?.get(p);
          for (const v of Object.values(st ?? {})) if (typeof v === 'object' && v !== null && 'storage' in v) opt += ((v as Tensor).storage as MetaStorage).bytes;
        }
        return { name, type: layerTypeName(layer), params, grads: params, optimizer: opt, activations: saved.get(name) ?? 0 };
      });
      const sum = (f: (l: LayerMemory) => number): number => layers.reduce((a, l) => a + f(l), 0);
      const params = m.parameters().reduce((a, p) => a + bytesOf(p), 0);
      return {
        inputShape: shape,
        backend: backend.name,
        layers,
        params,
        grads: params,
        optimizer: sum((l) => l.optimizer),
        activations,
        workspace: c.peakWorkspace,
        scratchpad: c.scratchpad,
        peakLive: c.peakLive,
        peakReserved: c.peakReserved,
        runtime,
        total: c.peakReserved + c.scratchpad + runtime,
      };
    } finally {
      for (const r of removers) r();
      c.tag = null;
      dispose(batch);
      (optimizer as { dispose?: () => void } | null)?.dispose?.();
      if (model !== null) dispose(Object.values(model.stateDict()));
    }
  });
}

// ---- what the machine can give ------------------------------------------------------------------

/** Memory this process may still use, and what limits it (bytes). */
export interface AvailableMemory {
  /** The smallest of the limits below. */
  bytes: number;
  /** Which limit that is, for messages (`'MemAvailable'`, `'cgroup memory.max'`, `'ulimit -v'`). */
  source: string;
}

function readNumber(path: string): number | null {
  try {
    const t = readFileSync(path, 'utf8').trim();
    if (t === 'max' || t === '') return null;
    const v = Number(t);
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

/**
 * What this process can still allocate: /proc/meminfo's MemAvailable, less when the process's
 * cgroup has a memory limit (v2 memory.max - memory.current, or v1 memory.limit_in_bytes -
 * memory.usage_in_bytes) or an address-space limit (`ulimit -v`: the limit minus the current virtual
 * size). Null where /proc is missing (not Linux).
 * @example availableMemory()?.bytes
 */
export function availableMemory(): AvailableMemory | null {
  let meminfo: string;
  try {
    meminfo = readFileSync('/proc/meminfo', 'utf8');
  } catch {
    return null;
  }
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(meminfo);
  if (m === null) return null;
  let best: AvailableMemory = { bytes: Number(m[1]) * 1024, source: 'MemAvailable' };
  const consider = (bytes: number, source: string): void => {
    if (bytes < best.bytes) best = { bytes: Math.max(0, bytes), source };
  };
  // The cgroup of this process (v2: one line "0::/path"; v1: the memory controller's line).
  let cg = '';
  try {
    cg = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    cg = '';
  }
  const v2 = /^0::(.*)$/m.exec(cg);
  if (v2 !== null) {
    const dir = `/sys/fs/cgroup${v2[1] === '/' ? '' : v2[1]}`;
    const max = readNumber(`${dir}/memory.max`);
    const cur = readNumber(`${dir}/memory.current`);
    if (max !== null && cur !== null) consider(max - cur, 'cgroup memory.max');
  }
  const v1 = /^\d+:[^:]*\bmemory\b[^:]*:(.*)$/m.exec(cg);
  if (v1 !== null) {
    const dir = `/sys/fs/cgroup/memory${v1[1] === '/' ? '' : v1[1]}`;
    const max = readNumber(`${dir}/memory.limit_in_bytes`);
    const cur = readNumber(`${dir}/memory.usage_in_bytes`);
    // v1 reports "no limit" as a huge number.
    if (max !== null && cur !== null && max < 2 ** 60) consider(max - cur, 'cgroup memory.limit_in_bytes');
  }
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const as = /^Max address space\s+(\d+)\s/m.exec(limits);
    const status = readFileSync('/proc/self/status', 'utf8');
    const vm = /^VmSize:\s+(\d+) kB/m.exec(status);
    if (as !== null && vm !== null) consider(Number(as[1]) - Number(vm[1]) * 1024, 'ulimit -v');
  } catch {
    // no limits file: nothing to add
  }
  return best;
}

/** `1.23 GB`-style bytes (powers of 1000, as `free -h --si` and PyTorch's docs). */
export function formatBytes(b: number): string {
  const units: [number, string][] = [
    [1e12, 'TB'],
    [1e9, 'GB'],
    [1e6, 'MB'],
    [1e3, 'kB'],
  ];
  for (const [f, u] of units) if (Math.abs(b) >= f) return `${(b / f).toFixed(2)} ${u}`;
  return `${b} B`;
}

/** Thrown by `checkTrainingMemory`: training would need more memory than the machine can give. */
export class OutOfMemoryError extends Error {
  constructor(
    message: string,
    /** The estimate that did not fit. */
    readonly needed: number,
    /** What was available. */
    readonly available: number,
    /** The largest batch size that fits (0: not even one image). */
    readonly largestBatch: number,
  ) {
    super(message);
    this.name = 'OutOfMemoryError';
  }
}

/** Options of `checkTrainingMemory`. */
export interface CheckMemoryOptions extends EstimateOptions {
  /** Name of the model in the message (default `'the model'`). */
  name?: string;
  /** What is available (default: `availableMemory()`; no check when null). */
  available?: AvailableMemory | null;
}

/**
 * Throws an `OutOfMemoryError` with one line naming the model, the batch size, the estimate and the
 * largest batch that fits when training `create()` on batches of `inputShape` would need more memory
 * than `available` (default: what the machine can give now). Runs on the meta backend: nothing is
 * allocated. Returns the estimate when it fits.
 * @example checkTrainingMemory(() => createModel('vgg11'), [256, 1, 224, 224], { name: 'vgg11' })
 */
export function checkTrainingMemory(create: () => Classifier, inputShape: readonly number[], opts: CheckMemoryOptions = {}): TrainingMemoryEstimate {
  const available = opts.available === undefined ? availableMemory() : opts.available;
  const runtime = opts.runtime ?? runtimeMemory();
  const est = (n: number): TrainingMemoryEstimate => estimateTrainingMemory(create, [n, ...inputShape.slice(1)], { ...opts, runtime });
  const e = est(inputShape[0]!);
  if (available === null) return e;
  // What the process holds now (runtime) is part of the estimate but not of what is available.
  const room = available.bytes + runtime;
  if (e.total <= room) return e;
  const best = largestBatch(est, room, inputShape[0]!);
  const name = opts.name ?? 'the model';
  const hint = best > 0 ? `the largest batch that fits is ${best} (--batch-size ${best})` : 'not even a batch of 1 fits';
  throw new OutOfMemoryError(
    `${name} at batch size ${inputShape[0]} needs about ${formatBytes(e.total)} to train, but only ${formatBytes(room)} is available (${available.source}); ${hint}`,
    e.total,
    room,
    best,
  );
}

/**
 * A `TrainerOptions.checkMemory` for models made by `create` (a fresh model of the architecture
 * being trained): checks the first batch's shape before the first step.
 * @example new Trainer({ maxEpochs: 10, checkMemory: memoryCheck(() => new AlexNet(), { name: 'alexnet' }) })
 */
export function memoryCheck(create: () => Classifier, opts: CheckMemoryOptions = {}): (inputShape: readonly number[]) => void {
  return (inputShape) => void checkTrainingMemory(create, inputShape, opts);
}

/**
 * The largest batch below `n` whose estimate fits in `room` bytes (0 when none). The estimate grows
 * about linearly with the batch: a guess from the batch-1 estimate and the bytes per image, then a
 * bisection on real estimates near it (each one meta run: milliseconds).
 */
function largestBatch(est: (n: number) => TrainingMemoryEstimate, room: number, n: number): number {
  const fits = (b: number): boolean => est(b).total <= room;
  // Batch norm cannot train on one image: the smallest batch is 2 then.
  let first = 1;
  let base: number;
  try {
    base = est(1).total;
  } catch {
    first = 2;
    base = est(2).total;
  }
  if (base > room || n <= first) return 0;
  const p = Math.max(first + 1, Math.min(n - 1, 32));
  const perImage = Math.max(1, (est(p).total - base) / (p - first));
  const guess = Math.max(first, Math.min(n - 1, first + Math.floor((room - base) / perImage)));
  let lo: number;
  let hi: number;
  if (fits(guess)) {
    lo = guess;
    hi = Math.min(n - 1, Math.ceil(guess * 1.1));
    if (hi > lo && fits(hi)) [lo, hi] = [hi, n - 1];
  } else {
    hi = guess - 1;
    lo = Math.max(first, Math.floor(guess * 0.9));
    if (!fits(lo)) [lo, hi] = [first, lo - 1];
  }
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
