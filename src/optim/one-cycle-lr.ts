/** `OneCycleLR`: PyTorch's 1cycle policy (Smith & Topin), stepped once per batch. */
import { LRScheduler, groupNumber, groupRecord, type SchedulableOptimizer } from './lr-scheduler.js';

/** Options of `OneCycleLR` (PyTorch's arguments in camelCase, same defaults). */
export interface OneCycleLROptions {
  /** Peak lr, one for all groups or one per group. */
  maxLr: number | readonly number[];
  /** Steps of the cycle; or give `epochs` and `stepsPerEpoch`. */
  totalSteps?: number;
  /** With `stepsPerEpoch`: totalSteps = epochs · stepsPerEpoch. */
  epochs?: number;
  /** With `epochs`. */
  stepsPerEpoch?: number;
  /** Fraction of the cycle spent increasing the lr (default 0.3). */
  pctStart?: number;
  /** `'cos'` (default) or `'linear'`. */
  annealStrategy?: 'cos' | 'linear';
  /** Cycle the momentum (SGD's `momentum`, Adam's beta1) inversely to the lr (default true). */
  cycleMomentum?: boolean;
  /** Momentum at the lr peak (default 0.85). */
  baseMomentum?: number | readonly number[];
  /** Momentum at the start and end (default 0.95). */
  maxMomentum?: number | readonly number[];
  /** initialLr = maxLr / divFactor (default 25). */
  divFactor?: number;
  /** minLr = initialLr / finalDivFactor (default 1e4). */
  finalDivFactor?: number;
  /** The original paper's three phases instead of fastai's two (default false). */
  threePhase?: boolean;
  /** -1 (default) to start from the beginning. */
  lastEpoch?: number;
}

/** One phase: its last step and the group keys it anneals between. */
interface Phase {
  endStep: number;
  startLr: string;
  endLr: string;
  startMomentum: string;
  endMomentum: string;
}

function perGroup(optimizer: SchedulableOptimizer, name: string, v: number | readonly number[]): number[] {
  const n = optimizer.paramGroups.length;
  if (Array.isArray(v)) {
    if (v.length !== n) throw new Error(`OneCycleLR: expected ${n} values for ${name} (one per param group), got ${v.length}`);
    return [...(v as number[])];
  }
  return Array.from({ length: n }, () => v as number);
}

/**
 * The 1cycle policy as `torch.optim.lr_scheduler.OneCycleLR`: the lr rises from maxLr/divFactor to
 * maxLr over the first `pctStart` of `totalSteps`, then anneals to initialLr/finalDivFactor; with
 * `cycleMomentum` the momentum (SGD) or beta1 (Adam, AdamW) moves the opposite way between
 * `maxMomentum` and `baseMomentum` — note that, as in PyTorch, this turns momentum on for an SGD
 * built without it. Call `step()` after every batch; a step past `totalSteps` + 1 is an error.
 * The groups get PyTorch's keys in camelCase: `initialLr`, `maxLr`, `minLr`, `maxMomentum`,
 * `baseMomentum`.
 * @example const sched = new optim.OneCycleLR(opt, { maxLr: 0.1, epochs: 10, stepsPerEpoch: 469 });
 */
export class OneCycleLR extends LRScheduler {
  /** Steps of the cycle. */
  totalSteps: number;
  /** Annealing strategy. */
  annealStrategy: 'cos' | 'linear';
  /** Whether momentum is cycled. */
  cycleMomentum: boolean;
  /** Whether the momentum lives in `betas[0]` (Adam) rather than `momentum` (SGD). */
  useBeta1: boolean;
  /** The phases (PyTorch's `_schedule_phases`). */
  phases: Phase[];

  constructor(optimizer: SchedulableOptimizer, opts: OneCycleLROptions) {
    // initialLr must be in the groups before the base class reads it, so the groups are set up
    // from the raw options first (exactly as PyTorch's constructor does before super().__init__).
    const lastEpoch = opts.lastEpoch ?? -1;
    let totalSteps: number;
    if (opts.totalSteps === undefined && opts.epochs === undefined && opts.stepsPerEpoch === undefined) {
      throw new Error('OneCycleLR: give totalSteps, or epochs and stepsPerEpoch');
    } else if (opts.totalSteps !== undefined) {
      if (!Number.isInteger(opts.totalSteps) || opts.totalSteps <= 0) throw new Error(`OneCycleLR: totalSteps must be a positive integer, got ${opts.totalSteps}`);
      totalSteps = opts.totalSteps;
    } else {
      if (!Number.isInteger(opts.epochs) || opts.epochs! <= 0) throw new Error(`OneCycleLR: epochs must be a positive integer, got ${opts.epochs}`);
      if (!Number.isInteger(opts.stepsPerEpoch) || opts.stepsPerEpoch! <= 0) {
        throw new Error(`OneCycleLR: stepsPerEpoch must be a positive integer, got ${opts.stepsPerEpoch}`);
      }
      totalSteps = opts.epochs! * opts.stepsPerEpoch!;
    }
    const pctStart = opts.pctStart ?? 0.3;
    if (!(pctStart >= 0 && pctStart <= 1)) throw new Error(`OneCycleLR: pctStart must be in [0, 1], got ${opts.pctStart}`);
    const annealStrategy = opts.annealStrategy ?? 'cos';
    if (annealStrategy !== 'cos' && annealStrategy !== 'linear') throw new Error(`OneCycleLR: annealStrategy must be 'cos' or 'linear', got '${String(annealStrategy)}'`);
    const divFactor = opts.divFactor ?? 25;
    const finalDivFactor = opts.finalDivFactor ?? 1e4;
    if (!(divFactor > 0) || !(finalDivFactor > 0)) throw new Error('OneCycleLR: divFactor and finalDivFactor must be positive');
    const phases: Phase[] = opts.threePhase
      ? [
          { endStep: pctStart * totalSteps - 1, startLr: 'initialLr', endLr: 'maxLr', startMomentum: 'maxMomentum', endMomentum: 'baseMomentum' },
          { endStep: 2 * pctStart * totalSteps - 2, startLr: 'maxLr', endLr: 'initialLr', startMomentum: 'baseMomentum', endMomentum: 'maxMomentum' },
          { endStep: totalSteps - 1, startLr: 'initialLr', endLr: 'minLr', startMomentum: 'maxMomentum', endMomentum: 'maxMomentum' },
        ]
      : [
          { endStep: pctStart * totalSteps - 1, startLr: 'initialLr', endLr: 'maxLr', startMomentum: 'maxMomentum', endMomentum: 'baseMomentum' },
          { endStep: totalSteps - 1, startLr: 'maxLr', endLr: 'minLr', startMomentum: 'baseMomentum', endMomentum: 'maxMomentum' },
        ];
    const maxLrs = perGroup(optimizer, 'maxLr', opts.maxLr);
    if (!maxLrs.every((v) => Number.isFinite(v) && v > 0)) throw new Error(`OneCycleLR: maxLr must be positive, got ${String(opts.maxLr)}`);
    if (lastEpoch === -1) {
      optimizer.paramGroups.forEach((g, i) => {
        const r = groupRecord(g);
        r.initialLr = maxLrs[i]! / divFactor;
        r.maxLr = maxLrs[i]!;
        r.minLr = (r.initialLr as number) / finalDivFactor;
      });
    }
    const cycleMomentum = opts.cycleMomentum ?? true;
    let useBeta1 = false;
    if (cycleMomentum) {
      const defaults = optimizer.defaults as unknown as Record<string, unknown>;
      if (!('momentum' in defaults) && !('betas' in defaults)) {
        throw new Error(`OneCycleLR: the optimizer (${optimizer.constructor.name}) has no momentum to cycle; pass cycleMomentum: false`);
      }
      useBeta1 = 'betas' in defaults;
      const maxMomentums = perGroup(optimizer, 'maxMomentum', opts.maxMomentum ?? 0.95);
      const baseMomentums = perGroup(optimizer, 'baseMomentum', opts.baseMomentum ?? 0.85);
      if (lastEpoch === -1) {
        optimizer.paramGroups.forEach((g, i) => {
          const r = groupRecord(g);
          if (useBeta1) r.betas = [maxMomentums[i]!, ...(r.betas as number[]).slice(1)];
          else r.momentum = maxMomentums[i]!;
          r.maxMomentum = maxMomentums[i]!;
          r.baseMomentum = baseMomentums[i]!;
        });
      }
    }
    super(optimizer, lastEpoch);
    this.totalSteps = totalSteps;
    this.annealStrategy = annealStrategy;
    this.cycleMomentum = cycleMomentum;
    this.useBeta1 = useBeta1;
    this.phases = phases;
    this.initialStep();
  }

  #anneal(start: number, end: number, pct: number): number {
    if (this.annealStrategy === 'cos') {
      const cosOut = Math.cos(Math.PI * pct) + 1;
      return end + ((start - end) / 2.0) * cosOut;
    }
    return (end - start) * pct + start;
  }

  protected override getLr(): number[] {
    const stepNum = this.lastEpoch;
    if (stepNum > this.totalSteps) {
      throw new Error(`OneCycleLR: tried to step ${stepNum + 1} times; the schedule has ${this.totalSteps} total steps`);
    }
    const who = 'OneCycleLR';
    return this.optimizer.paramGroups.map((g, gi) => {
      let startStep = 0;
      let lr = NaN;
      let momentum = NaN;
      for (let i = 0; i < this.phases.length; i++) {
        const phase = this.phases[i]!;
        const endStep = phase.endStep;
        if (stepNum <= endStep || i === this.phases.length - 1) {
          const pct = (stepNum - startStep) / (endStep - startStep);
          lr = this.#anneal(groupNumber(this.optimizer, gi, phase.startLr, who), groupNumber(this.optimizer, gi, phase.endLr, who), pct);
          if (this.cycleMomentum) {
            momentum = this.#anneal(groupNumber(this.optimizer, gi, phase.startMomentum, who), groupNumber(this.optimizer, gi, phase.endMomentum, who), pct);
          }
          break;
        }
        startStep = phase.endStep;
      }
      if (this.cycleMomentum) {
        const r = groupRecord(g);
        if (this.useBeta1) r.betas = [momentum, ...(r.betas as number[]).slice(1)];
        else r.momentum = momentum;
      }
      return lr;
    });
  }

  protected override hyperKeys(): string[] {
    return ['totalSteps', 'annealStrategy', 'cycleMomentum', 'useBeta1', 'phases'];
  }
}
