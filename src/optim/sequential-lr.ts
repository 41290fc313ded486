/** `SequentialLR`: PyTorch's hand-over from one schedule to the next at milestones (e.g. warm-up, then cosine). */
import { LRScheduler, bisectRight, groupNumber, type LRSchedulerStateDict, type SchedulableOptimizer } from './lr-scheduler.js';

/** Options of `SequentialLR`. */
export interface SequentialLROptions {
  /** The schedules, built on the same optimizer, in order. */
  schedulers: readonly LRScheduler[];
  /** Steps at which the next schedule takes over (one fewer than the schedules), increasing. */
  milestones: readonly number[];
}

/**
 * Runs `schedulers[0]` until `milestones[0]`, then `schedulers[1]` from its step 0 (in closed
 * form, as PyTorch's `step(0)`), and so on, as `torch.optim.lr_scheduler.SequentialLR` (1.13). Its
 * quirks are kept: the lrs are reset to the groups' `initialLr` on construction and only the
 * first schedule's initial step is replayed.
 * @example
 * const warmup = new optim.LinearLR(opt, { startFactor: 0.1, totalIters: 3 });
 * const cosine = new optim.CosineAnnealingLR(opt, { tMax: 7 });
 * const sched = new optim.SequentialLR(opt, { schedulers: [warmup, cosine], milestones: [3] });
 */
export class SequentialLR extends LRScheduler {
  /** The schedules. */
  readonly schedulers: readonly LRScheduler[];
  /** Hand-over steps. */
  milestones: number[];

  constructor(optimizer: SchedulableOptimizer, opts: SequentialLROptions) {
    super(optimizer);
    const scheds = opts.schedulers;
    if (!Array.isArray(scheds) || scheds.length === 0) throw new Error('SequentialLR: schedulers must be a non-empty list');
    scheds.forEach((s, i) => {
      if (!(s instanceof LRScheduler)) throw new Error(`SequentialLR: schedulers[${i}] is not an LRScheduler`);
      if (s.optimizer !== optimizer) {
        throw new Error(`SequentialLR: schedulers[${i}] belongs to another optimizer; all schedulers must drive the optimizer passed in`);
      }
    });
    if (!Array.isArray(opts.milestones) || opts.milestones.length !== scheds.length - 1) {
      throw new Error(`SequentialLR: expected ${scheds.length - 1} milestones for ${scheds.length} schedulers, got ${Array.isArray(opts.milestones) ? opts.milestones.length : String(opts.milestones)}`);
    }
    opts.milestones.forEach((m, i) => {
      if (!Number.isInteger(m) || m < 0 || (i > 0 && m <= opts.milestones[i - 1]!)) {
        throw new Error(`SequentialLR: milestones must be increasing integers >= 0, got [${opts.milestones.join(', ')}]`);
      }
    });
    this.schedulers = [...scheds];
    this.milestones = [...opts.milestones];
    this.lastEpoch = 0;
    // Reset learning rates back to initial values
    optimizer.paramGroups.forEach((g, i) => (g.lr = groupNumber(optimizer, i, 'initialLr', 'SequentialLR')));
    // "Undo" the step performed by other schedulers
    for (const s of this.schedulers) s.lastEpoch -= 1;
    // Perform the initial step for only the first scheduler
    (this.schedulers[0] as unknown as { initialStep(): void }).initialStep();
    this.lastLr = this.schedulers[0]!.getLastLr();
  }

  protected override getLr(): number[] {
    // Never called: step() delegates to the current schedule.
    return this.groupLrs();
  }

  override step(): void {
    this.lastEpoch += 1;
    const idx = bisectRight(this.milestones, this.lastEpoch);
    const s = this.schedulers[idx]!;
    if (idx > 0 && this.milestones[idx - 1] === this.lastEpoch) s.stepTo(0);
    else s.step();
    this.lastLr = s.getLastLr();
  }

  override stepTo(_epoch: number): void {
    throw new Error('SequentialLR: stepping to an explicit epoch is not supported (PyTorch has no step(epoch) for it either)');
  }

  /** Its own counters and milestones plus every schedule's state (`schedulers`). */
  override stateDict(): LRSchedulerStateDict {
    return {
      type: 'SequentialLR',
      lastEpoch: this.lastEpoch,
      milestones: [...this.milestones],
      lastLr: [...this.lastLr],
      schedulers: this.schedulers.map((s) => s.stateDict()),
    };
  }

  override loadStateDict(sd: LRSchedulerStateDict): void {
    const who = 'SequentialLR.loadStateDict';
    if (sd === null || typeof sd !== 'object' || sd.type !== 'SequentialLR') throw new Error(`${who}: not a SequentialLR state`);
    const subs = sd.schedulers;
    if (!Array.isArray(subs) || subs.length !== this.schedulers.length) {
      throw new Error(`${who}: expected the states of ${this.schedulers.length} schedulers`);
    }
    if (!Number.isInteger(sd.lastEpoch)) throw new Error(`${who}: 'lastEpoch' must be an integer`);
    const ms = sd.milestones;
    if (!Array.isArray(ms) || ms.length !== this.milestones.length || !ms.every(Number.isInteger)) throw new Error(`${who}: 'milestones' must be ${this.milestones.length} integers`);
    const lastLr = sd.lastLr;
    if (!Array.isArray(lastLr) || !lastLr.every((v) => typeof v === 'number')) throw new Error(`${who}: 'lastLr' must be numbers`);
    this.schedulers.forEach((s, i) => s.loadStateDict(subs[i] as LRSchedulerStateDict));
    this.lastEpoch = sd.lastEpoch as number;
    this.milestones = [...(ms as number[])];
    this.lastLr = [...(lastLr as number[])];
  }
}
