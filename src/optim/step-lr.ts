/** Step decays: `StepLR` (every `stepSize` steps) and `MultiStepLR` (at milestones), PyTorch's. */
import { LRScheduler, bisectRight, type SchedulableOptimizer } from './lr-scheduler.js';

/** Options of `StepLR`. */
export interface StepLROptions {
  /** Period of the decay, in steps (epochs when stepped per epoch). */
  stepSize: number;
  /** Multiplicative decay factor (default 0.1). */
  gamma?: number;
  /** -1 (default) to start from the beginning. */
  lastEpoch?: number;
}

function positiveInteger(v: unknown, what: string): number {
  if (!Number.isInteger(v) || (v as number) <= 0) throw new Error(`${what} must be a positive integer, got ${String(v)}`);
  return v as number;
}

function finite(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${what} must be a finite number, got ${String(v)}`);
  return v;
}

/**
 * Multiplies every group's lr by `gamma` every `stepSize` steps, as `torch.optim.lr_scheduler.StepLR`
 * (lr = base · gamma^⌊epoch / stepSize⌋ when nothing else changes it).
 * @example
 * const sched = new optim.StepLR(opt, { stepSize: 30, gamma: 0.1 }); // per epoch: 0.05, ... 0.005 from epoch 30
 */
export class StepLR extends LRScheduler {
  /** Period of the decay. */
  stepSize: number;
  /** Decay factor. */
  gamma: number;

  constructor(optimizer: SchedulableOptimizer, opts: StepLROptions) {
    super(optimizer, opts.lastEpoch ?? -1);
    this.stepSize = positiveInteger(opts.stepSize, 'StepLR: stepSize');
    this.gamma = finite(opts.gamma ?? 0.1, 'StepLR: gamma');
    this.initialStep();
  }

  protected override getLr(): number[] {
    const lrs = this.groupLrs();
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return lrs;
    return lrs.map((lr) => lr * this.gamma);
  }

  protected override closedFormLr(): number[] {
    return this.baseLrs.map((b) => b * this.gamma ** Math.floor(this.lastEpoch / this.stepSize));
  }

  protected override hyperKeys(): string[] {
    return ['stepSize', 'gamma'];
  }
}

/** Options of `MultiStepLR`. */
export interface MultiStepLROptions {
  /** Steps at which the lr is multiplied by `gamma` (a milestone given twice decays twice). */
  milestones: readonly number[];
  /** Multiplicative decay factor (default 0.1). */
  gamma?: number;
  /** -1 (default) to start from the beginning. */
  lastEpoch?: number;
}

/**
 * Multiplies every group's lr by `gamma` at each milestone, as
 * `torch.optim.lr_scheduler.MultiStepLR` (milestones count with multiplicity, like its Counter).
 * @example new optim.MultiStepLR(opt, { milestones: [30, 80], gamma: 0.1 })
 */
export class MultiStepLR extends LRScheduler {
  /** The milestones, sorted (with repeats). */
  milestones: number[];
  /** Decay factor. */
  gamma: number;

  constructor(optimizer: SchedulableOptimizer, opts: MultiStepLROptions) {
    super(optimizer, opts.lastEpoch ?? -1);
    if (!Array.isArray(opts.milestones)) throw new Error('MultiStepLR: milestones must be a list of step numbers');
    this.milestones = opts.milestones.map((m) => {
      if (!Number.isInteger(m) || m < 0) throw new Error(`MultiStepLR: milestones must be integers >= 0, got ${String(m)}`);
      return m;
    }).sort((a, b) => a - b);
    this.gamma = finite(opts.gamma ?? 0.1, 'MultiStepLR: gamma');
    this.initialStep();
  }

  protected override getLr(): number[] {
    const count = this.milestones.filter((m) => m === this.lastEpoch).length;
    const lrs = this.groupLrs();
    if (count === 0) return lrs;
    return lrs.map((lr) => lr * this.gamma ** count);
  }

  protected override closedFormLr(): number[] {
    return this.baseLrs.map((b) => b * this.gamma ** bisectRight(this.milestones, this.lastEpoch));
  }

  protected override hyperKeys(): string[] {
    return ['milestones', 'gamma'];
  }
}
