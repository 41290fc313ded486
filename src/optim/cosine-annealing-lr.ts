/** `CosineAnnealingLR`: PyTorch's cosine annealing (SGDR without restarts), in its recursive form. */
import { LRScheduler, type SchedulableOptimizer } from './lr-scheduler.js';

/** Options of `CosineAnnealingLR`. */
export interface CosineAnnealingLROptions {
  /** Steps of the half cosine from the initial lr down to `etaMin` (PyTorch's `T_max`). */
  tMax: number;
  /** Lowest lr (default 0). */
  etaMin?: number;
  /** -1 (default) to start from the beginning. */
  lastEpoch?: number;
}

/**
 * Anneals every group's lr from its initial value to `etaMin` along a half cosine over `tMax`
 * steps, as `torch.optim.lr_scheduler.CosineAnnealingLR`: lr_t = etaMin + (base − etaMin) ·
 * (1 + cos(π t / tMax)) / 2 when nothing else changes the lr. Like PyTorch it is computed
 * recursively from the current lr, and past `tMax` it climbs back up (a cosine of period 2·tMax).
 * @example const sched = new optim.CosineAnnealingLR(opt, { tMax: epochs });
 */
export class CosineAnnealingLR extends LRScheduler {
  /** Half period, in steps. */
  tMax: number;
  /** Lowest lr. */
  etaMin: number;

  constructor(optimizer: SchedulableOptimizer, opts: CosineAnnealingLROptions) {
    super(optimizer, opts.lastEpoch ?? -1);
    if (!Number.isInteger(opts.tMax) || opts.tMax <= 0) throw new Error(`CosineAnnealingLR: tMax must be a positive integer, got ${String(opts.tMax)}`);
    const etaMin = opts.etaMin ?? 0;
    if (!Number.isFinite(etaMin) || etaMin < 0) throw new Error(`CosineAnnealingLR: etaMin must be a finite number >= 0, got ${String(opts.etaMin)}`);
    this.tMax = opts.tMax;
    this.etaMin = etaMin;
    this.initialStep();
  }

  protected override getLr(): number[] {
    const { lastEpoch: t, tMax, etaMin } = this;
    const lrs = this.groupLrs();
    if (t === 0) return lrs;
    if (this.stepCount === 1 && t > 0) {
      return this.baseLrs.map((b) => etaMin + ((b - etaMin) * (1 + Math.cos((t * Math.PI) / tMax))) / 2);
    }
    // Python's % is a floor modulo (the dividend may be negative).
    const k = t - 1 - tMax;
    if (((k % (2 * tMax)) + 2 * tMax) % (2 * tMax) === 0) {
      return lrs.map((lr, i) => lr + ((this.baseLrs[i]! - etaMin) * (1 - Math.cos(Math.PI / tMax))) / 2);
    }
    return lrs.map(
      (lr) => ((1 + Math.cos((Math.PI * t) / tMax)) / (1 + Math.cos((Math.PI * (t - 1)) / tMax))) * (lr - etaMin) + etaMin,
    );
  }

  protected override closedFormLr(): number[] {
    return this.baseLrs.map((b) => this.etaMin + ((b - this.etaMin) * (1 + Math.cos((Math.PI * this.lastEpoch) / this.tMax))) / 2);
  }

  protected override hyperKeys(): string[] {
    return ['tMax', 'etaMin'];
  }
}
