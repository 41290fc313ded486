/** `LinearLR`: PyTorch's linear ramp of a multiplicative factor (a warm-up, or a linear decay). */
import { LRScheduler, type SchedulableOptimizer } from './lr-scheduler.js';

/** Options of `LinearLR`. */
export interface LinearLROptions {
  /** Factor of the first step (default 1/3), in [0, 1]. */
  startFactor?: number;
  /** Factor from step `totalIters` on (default 1), in [0, 1]. */
  endFactor?: number;
  /** Steps over which the factor goes from `startFactor` to `endFactor` (default 5). */
  totalIters?: number;
  /** -1 (default) to start from the beginning. */
  lastEpoch?: number;
}

/**
 * Multiplies every group's lr by a factor that moves linearly from `startFactor` to `endFactor`
 * over `totalIters` steps, then stays, as `torch.optim.lr_scheduler.LinearLR` (recursive form).
 * A linear warm-up: `{ startFactor: 0.1, totalIters: 5 }`; combine with `SequentialLR`.
 * @example new optim.LinearLR(opt, { startFactor: 0.5, totalIters: 4 }) // 0.025, 0.03125, ... 0.05 for lr 0.05
 */
export class LinearLR extends LRScheduler {
  /** Factor of step 0. */
  startFactor: number;
  /** Final factor. */
  endFactor: number;
  /** Length of the ramp. */
  totalIters: number;

  constructor(optimizer: SchedulableOptimizer, opts: LinearLROptions = {}) {
    super(optimizer, opts.lastEpoch ?? -1);
    const startFactor = opts.startFactor ?? 1 / 3;
    const endFactor = opts.endFactor ?? 1;
    if (!(startFactor >= 0 && startFactor <= 1)) throw new Error(`LinearLR: startFactor must be in [0, 1], got ${String(opts.startFactor)}`);
    if (!(endFactor >= 0 && endFactor <= 1)) throw new Error(`LinearLR: endFactor must be in [0, 1], got ${String(opts.endFactor)}`);
    const totalIters = opts.totalIters ?? 5;
    if (!Number.isInteger(totalIters) || totalIters <= 0) throw new Error(`LinearLR: totalIters must be a positive integer, got ${String(opts.totalIters)}`);
    this.startFactor = startFactor;
    this.endFactor = endFactor;
    this.totalIters = totalIters;
    this.initialStep();
  }

  protected override getLr(): number[] {
    const { startFactor: s, endFactor: e, totalIters: n, lastEpoch: t } = this;
    const lrs = this.groupLrs();
    if (t === 0) return lrs.map((lr) => lr * s);
    if (t > n) return lrs;
    return lrs.map((lr) => lr * (1 + (e - s) / (n * s + (t - 1) * (e - s))));
  }

  protected override closedFormLr(): number[] {
    const { startFactor: s, endFactor: e, totalIters: n, lastEpoch: t } = this;
    return this.baseLrs.map((b) => b * (s + ((e - s) * Math.min(n, t)) / n));
  }

  protected override hyperKeys(): string[] {
    return ['startFactor', 'endFactor', 'totalIters'];
  }
}
