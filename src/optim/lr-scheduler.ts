/**
 * `LRScheduler`: the base class of the learning-rate schedules, a port of PyTorch 1.13's
 * `torch.optim.lr_scheduler._LRScheduler`. The schedules keep PyTorch's names, arguments (in
 * camelCase) and *trajectories*: most are written, as in PyTorch, in the recursive ("chainable")
 * form that updates each group's current `lr`, so their floating-point values equal PyTorch's (the
 * tests compare with trajectories recorded from torch 1.13).
 *
 * Usage as in PyTorch: build the scheduler after the optimizer (the constructor already sets the
 * lr of step 0), call `optimizer.step()` then `scheduler.step()` once per epoch (or per batch for
 * `OneCycleLR`). `stateDict()` / `loadStateDict()` checkpoint it (JSON values only).
 */
import { Optimizer } from './optimizer.js';

/** The optimizers a scheduler drives: any `Optimizer` (its groups have an `lr`). */
export type SchedulableOptimizer = Optimizer<{ lr: number }>;

/** A scheduler checkpoint: JSON values (numbers, arrays, strings, booleans, nested states). */
export type LRSchedulerStateDict = Record<string, unknown>;

/** A parameter group seen as a record, for the keys schedulers add (`initialLr`, `maxLr`, ...). */
export function groupRecord(g: object): Record<string, unknown> {
  return g as Record<string, unknown>;
}

/** The number stored under `key` in group `i` (a clear error when it is missing). */
export function groupNumber(optimizer: SchedulableOptimizer, i: number, key: string, who: string): number {
  const v = groupRecord(optimizer.paramGroups[i]!)[key];
  if (typeof v !== 'number') throw new Error(`${who}: param group ${i} has no '${key}' (${v === undefined ? 'missing' : typeof v})`);
  return v;
}

/** Python's `bisect.bisect_right` on a sorted array. */
export function bisectRight(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x < a[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function isJsonValue(v: unknown): boolean {
  if (v === null || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return true;
  if (Array.isArray(v)) return v.every(isJsonValue);
  if (typeof v === 'object') return Object.values(v as object).every(isJsonValue);
  return false;
}

/**
 * Base class of the schedules (PyTorch's `_LRScheduler`). On construction each parameter group
 * gets `initialLr` (unless an earlier scheduler set it: `SequentialLR` relies on this, as PyTorch),
 * `baseLrs` are those values, and — at the end of the subclass constructor — one initial step sets
 * the lr of epoch 0.
 *
 * Subclasses implement `getLr()` (the chainable form, reading the groups' current lr where PyTorch
 * does), optionally `closedFormLr()` (used when stepping to an explicit epoch, as `SequentialLR`
 * does at its milestones), and list their hyperparameters in `hyperKeys()` for `stateDict`.
 */
export abstract class LRScheduler {
  /** The optimizer whose groups' `lr` this scheduler sets. */
  readonly optimizer: SchedulableOptimizer;
  /** Each group's `initialLr` when the scheduler was built. */
  baseLrs: number[];
  /** Index of the last step (`-1` before the initial step, 0 after it); PyTorch's `last_epoch`. */
  lastEpoch: number;
  /** Calls of `step` so far, the initial one included (PyTorch's `_step_count`). */
  protected stepCount = 0;
  /** The lrs set by the last step. */
  protected lastLr: number[] = [];

  /**
   * @param lastEpoch -1 (default) to start from the beginning; otherwise every group must carry
   *   `initialLr` already (as when resuming in PyTorch).
   */
  constructor(optimizer: SchedulableOptimizer, lastEpoch = -1) {
    const who = new.target.name;
    if (!(optimizer instanceof Optimizer)) throw new Error(`${who}: expected an Optimizer, got ${optimizer === null ? 'null' : typeof optimizer}`);
    if (!Number.isInteger(lastEpoch) || lastEpoch < -1) throw new Error(`${who}: lastEpoch must be an integer >= -1, got ${lastEpoch}`);
    this.optimizer = optimizer;
    optimizer.paramGroups.forEach((g, i) => {
      const r = groupRecord(g);
      if (lastEpoch === -1) {
        if (r.initialLr === undefined) r.initialLr = g.lr;
      } else if (typeof r.initialLr !== 'number') {
        throw new Error(`${who}: param group ${i} has no 'initialLr' (needed when lastEpoch is not -1, i.e. when resuming)`);
      }
    });
    this.baseLrs = optimizer.paramGroups.map((_, i) => groupNumber(optimizer, i, 'initialLr', who));
    this.lastEpoch = lastEpoch;
  }

  /** PyTorch's `_initial_step`: resets the step count and steps once. Subclass constructors end with it. */
  protected initialStep(): void {
    this.stepCount = 0;
    this.step();
  }

  /** The chainable lr of each group for `this.lastEpoch` (called after it was advanced). */
  protected abstract getLr(): number[];

  /** The lr of each group for `this.lastEpoch` in closed form, or null when the schedule has none. */
  protected closedFormLr(): number[] | null {
    return null;
  }

  /** Names of the hyperparameter fields saved by `stateDict` (e.g. `['stepSize', 'gamma']`). */
  protected hyperKeys(): string[] {
    return [];
  }

  /** Advances the schedule by one step and sets every group's lr. */
  step(): void {
    this.stepCount += 1;
    this.lastEpoch += 1;
    this.setLrs(this.getLr());
  }

  /**
   * Steps to `epoch` directly, with the closed form when there is one (PyTorch's deprecated
   * `step(epoch)`; `SequentialLR` uses it at its milestones).
   */
  stepTo(epoch: number): void {
    if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`${this.constructor.name}.stepTo: epoch must be an integer >= 0, got ${epoch}`);
    this.stepCount += 1;
    this.lastEpoch = epoch;
    this.setLrs(this.closedFormLr() ?? this.getLr());
  }

  protected setLrs(values: number[]): void {
    this.optimizer.paramGroups.forEach((g, i) => (g.lr = values[i]!));
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** The lr of each group set by the last step (PyTorch's `get_last_lr()`). */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** The groups' current lrs (what the chainable forms start from). */
  protected groupLrs(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  /**
   * The scheduler's state as JSON values (PyTorch's `state_dict()`: everything but the optimizer):
   * the counters, `baseLrs`, the last lrs and the hyperparameters.
   * @example const saved = JSON.stringify(scheduler.stateDict());
   */
  stateDict(): LRSchedulerStateDict {
    const self = this as unknown as Record<string, unknown>;
    const out: LRSchedulerStateDict = {
      type: this.constructor.name,
      lastEpoch: this.lastEpoch,
      stepCount: this.stepCount,
      baseLrs: [...this.baseLrs],
      lastLr: [...this.lastLr],
    };
    for (const k of this.hyperKeys()) out[k] = structuredClone(self[k]);
    return out;
  }

  /**
   * Restores `stateDict()` output (PyTorch's `load_state_dict`: the saved values replace the
   * current ones, hyperparameters included). The optimizer's lrs are not touched: restore the
   * optimizer from its own checkpoint.
   */
  loadStateDict(sd: LRSchedulerStateDict): void {
    const who = `${this.constructor.name}.loadStateDict`;
    if (sd === null || typeof sd !== 'object' || Array.isArray(sd)) throw new Error(`${who}: expected an object from stateDict()`);
    if (sd.type !== undefined && sd.type !== this.constructor.name) throw new Error(`${who}: the state is of a ${String(sd.type)}, not a ${this.constructor.name}`);
    const n = this.optimizer.paramGroups.length;
    const nums = (k: string): number[] => {
      const v = sd[k];
      if (!Array.isArray(v) || v.length !== n || !v.every((x) => typeof x === 'number')) throw new Error(`${who}: '${k}' must be ${n} numbers (one per param group)`);
      return v as number[];
    };
    if (!Number.isInteger(sd.lastEpoch)) throw new Error(`${who}: 'lastEpoch' must be an integer`);
    if (!Number.isInteger(sd.stepCount)) throw new Error(`${who}: 'stepCount' must be an integer`);
    const baseLrs = nums('baseLrs');
    const lastLr = nums('lastLr');
    const self = this as unknown as Record<string, unknown>;
    for (const k of this.hyperKeys()) {
      if (!(k in sd)) throw new Error(`${who}: '${k}' is missing`);
      if (!isJsonValue(sd[k]) || typeof sd[k] !== typeof self[k]) throw new Error(`${who}: '${k}' must be a ${typeof self[k]}`);
    }
    this.lastEpoch = sd.lastEpoch as number;
    this.stepCount = sd.stepCount as number;
    this.baseLrs = [...baseLrs];
    this.lastLr = [...lastLr];
    for (const k of this.hyperKeys()) self[k] = structuredClone(sd[k]);
  }
}
