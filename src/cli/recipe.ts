/**
 * The training-recipe flags of `convnet train`, parsed, normalized (so that a checkpoint records
 * exactly what ran) and turned into objects: `--optimizer`, `--momentum`, `--weight-decay`,
 * `--lr-schedule`, `--label-smoothing`, `--init` and `--augment`.
 */
import type { Tensor } from '../tensor/tensor.js';
import {
  Adam,
  AdamW,
  CosineAnnealingLR,
  LinearLR,
  MultiStepLR,
  OneCycleLR,
  SGD,
  SequentialLR,
  StepLR,
  type LRScheduler,
  type Optimizer,
} from '../optim/index.js';
import {
  colorJitter,
  gaussianBlur,
  horizontalFlip,
  randomAffine,
  randomCrop,
  randomErasing,
  randomResizedCrop,
  randomRotation,
  verticalFlip,
  type Transform,
} from '../data/transforms.js';
import type { SchedulerInterval } from '../train/trainer.js';
import { UsageError } from './args.js';

/** `--optimizer` values. */
export const OPTIMIZER_NAMES = ['sgd', 'adam', 'adamw'] as const;
/** An optimizer of `convnet train`. */
export type OptimizerName = (typeof OPTIMIZER_NAMES)[number];

/** What `convnet train` records about the optimizer (in the checkpoint's run settings). */
export interface OptimizerConfig {
  /** 'sgd' (the lecture's minibatch SGD), 'adam' or 'adamw'. */
  optimizer: OptimizerName;
  /** SGD momentum (0 for Adam/AdamW, whose betas are PyTorch's defaults). */
  momentum: number;
  /** Weight decay (L2 for SGD and Adam, decoupled for AdamW). */
  weightDecay: number;
}

/** The default weight decay of each optimizer (PyTorch's: AdamW 1e-2, the others 0). */
export function defaultWeightDecay(optimizer: OptimizerName): number {
  return optimizer === 'adamw' ? 1e-2 : 0;
}

/**
 * The optimizer of a run over `params` with learning rate `lr`, as PyTorch builds it.
 * @example buildOptimizer({ optimizer: 'adamw', momentum: 0, weightDecay: 0.05 }, model.parameters(), 1e-3)
 */
export function buildOptimizer(cfg: OptimizerConfig, params: Tensor[], lr: number): Optimizer<{ lr: number }> {
  switch (cfg.optimizer) {
    case 'sgd':
      return new SGD({ params, lr, momentum: cfg.momentum, weightDecay: cfg.weightDecay });
    case 'adam':
      return new Adam({ params, lr, weightDecay: cfg.weightDecay });
    case 'adamw':
      return new AdamW({ params, lr, weightDecay: cfg.weightDecay });
    default:
      throw new UsageError(`--optimizer must be ${OPTIMIZER_NAMES.join(', ')}, got '${String(cfg.optimizer)}'`);
  }
}

// ---- learning-rate schedules -------------------------------------------------------------------

/** The part of a schedule after the optional warm-up. */
export type MainSchedule =
  | { kind: 'none' }
  | { kind: 'step'; stepSize: number; gamma: number }
  | { kind: 'multistep'; milestones: number[]; gamma: number }
  | { kind: 'cosine'; etaMin: number }
  | { kind: 'onecycle'; pctStart: number };

/** A parsed `--lr-schedule`. */
export interface ScheduleSpec {
  /** Linear warm-up over the first `epochs` epochs from `startFactor` · lr (LinearLR), or null. */
  warmup: { epochs: number; startFactor: number } | null;
  main: MainSchedule;
}

/** The `--lr-schedule` help text (grammar and meaning). */
export const LR_SCHEDULE_HELP = `none (default) | step:S[:G] | multistep:M1,M2,...[:G] |
                            cosine[:ETA_MIN] | onecycle[:PCT] | warmup:E[:F]+<step|multistep|cosine|none>
      step:S[:G]            StepLR: lr × G (default 0.1) every S epochs
      multistep:M1,M2[:G]   MultiStepLR: lr × G at epochs M1, M2, ...
      cosine[:ETA_MIN]      CosineAnnealingLR over the run's epochs down to ETA_MIN (default 0)
      onecycle[:PCT]        OneCycleLR stepped per batch, peak = --lr, rising for PCT (default
                            0.3) of the steps; cycles SGD momentum / Adam beta1 as PyTorch does
      warmup:E[:F]+...      LinearLR from F·lr (default 0.1) to lr over E epochs, then the rest
                            (SequentialLR; cosine then spans the remaining epochs)`;

function num(what: string, v: string | undefined, check: (n: number) => boolean, expect: string): number {
  const n = v === undefined || v.trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(n) || !check(n)) throw new UsageError(`--lr-schedule: ${what} must be ${expect}, got '${v ?? ''}'`);
  return n;
}

function parseMain(text: string): MainSchedule {
  const [kind, ...args] = text.split(':');
  const nArgs = (max: number): void => {
    if (args.length > max) throw new UsageError(`--lr-schedule: '${text}' has too many ':' parts (see convnet train --help)`);
  };
  const posInt = (n: number): boolean => Number.isInteger(n) && n > 0;
  switch (kind) {
    case 'none':
    case 'constant':
      nArgs(0);
      return { kind: 'none' };
    case 'step':
      nArgs(2);
      return {
        kind: 'step',
        stepSize: num('step size', args[0], posInt, 'a positive integer'),
        gamma: args[1] === undefined ? 0.1 : num('gamma', args[1], (n) => n > 0, 'a positive number'),
      };
    case 'multistep': {
      nArgs(2);
      const ms = (args[0] ?? '').split(',').map((m) => num('milestone', m, posInt, 'a positive integer'));
      if (ms.some((m, i) => i > 0 && m <= ms[i - 1]!)) throw new UsageError(`--lr-schedule: multistep milestones must increase, got '${args[0]}'`);
      return { kind: 'multistep', milestones: ms, gamma: args[1] === undefined ? 0.1 : num('gamma', args[1], (n) => n > 0, 'a positive number') };
    }
    case 'cosine':
      nArgs(1);
      return { kind: 'cosine', etaMin: args[0] === undefined ? 0 : num('eta_min', args[0], (n) => n >= 0, 'a number >= 0') };
    case 'onecycle':
      nArgs(1);
      return { kind: 'onecycle', pctStart: args[0] === undefined ? 0.3 : num('pct_start', args[0], (n) => n > 0 && n < 1, 'a number in (0, 1)') };
    default:
      throw new UsageError(`--lr-schedule: unknown schedule '${kind}' (valid: none, step, multistep, cosine, onecycle, warmup:E+...)`);
  }
}

/**
 * Parses `--lr-schedule` (see `LR_SCHEDULE_HELP`); errors are one-line `UsageError`s.
 * @example parseSchedule('warmup:2+cosine') // { warmup: { epochs: 2, startFactor: 0.1 }, main: { kind: 'cosine', etaMin: 0 } }
 */
export function parseSchedule(spec: string): ScheduleSpec {
  const s = spec.trim();
  const plus = s.indexOf('+');
  if (plus < 0) {
    if (s.startsWith('warmup')) throw new UsageError(`--lr-schedule: a warm-up needs what follows it, e.g. 'warmup:2+cosine'`);
    return { warmup: null, main: parseMain(s) };
  }
  const [w, ...args] = s.slice(0, plus).split(':');
  if (w !== 'warmup' || args.length < 1 || args.length > 2) throw new UsageError(`--lr-schedule: '${s.slice(0, plus)}' must be warmup:E[:F]`);
  const epochs = num('warm-up epochs', args[0], (n) => Number.isInteger(n) && n > 0, 'a positive integer');
  const startFactor = args[1] === undefined ? 0.1 : num('warm-up start factor', args[1], (n) => n > 0 && n <= 1, 'in (0, 1]');
  const main = parseMain(s.slice(plus + 1));
  if (main.kind === 'onecycle') throw new UsageError('--lr-schedule: onecycle has its own warm-up; it cannot follow warmup:');
  return { warmup: { epochs, startFactor }, main };
}

/** The canonical text of a schedule, every default spelled out (what the checkpoint records). */
export function formatSchedule(s: ScheduleSpec): string {
  const m = s.main;
  const main =
    m.kind === 'none' ? 'none'
    : m.kind === 'step' ? `step:${m.stepSize}:${m.gamma}`
    : m.kind === 'multistep' ? `multistep:${m.milestones.join(',')}:${m.gamma}`
    : m.kind === 'cosine' ? `cosine:${m.etaMin}`
    : `onecycle:${m.pctStart}`;
  return s.warmup === null ? main : `warmup:${s.warmup.epochs}:${s.warmup.startFactor}+${main}`;
}

/** True when the schedule's length is the run's number of epochs (so `--epochs` cannot change on resume). */
export function scheduleSpansRun(s: ScheduleSpec): boolean {
  return s.main.kind === 'cosine' || s.main.kind === 'onecycle';
}

/** A built schedule and when the trainer steps it. */
export interface BuiltSchedule {
  scheduler: LRScheduler;
  interval: SchedulerInterval;
}

/**
 * The schedule of a run of `epochs` epochs of `stepsPerEpoch` batches on `optimizer` (null for
 * 'none' without warm-up). Build it right after the optimizer, as in PyTorch.
 */
export function buildScheduler(s: ScheduleSpec, optimizer: Optimizer<{ lr: number }>, epochs: number, stepsPerEpoch: number, lr: number): BuiltSchedule | null {
  const m = s.main;
  if (m.kind === 'onecycle') {
    if (stepsPerEpoch < 1) throw new UsageError('--lr-schedule onecycle: the training set has no batches');
    return { scheduler: new OneCycleLR(optimizer, { maxLr: lr, epochs, stepsPerEpoch, pctStart: m.pctStart }), interval: 'step' };
  }
  const warm = s.warmup;
  if (warm !== null && warm.epochs >= epochs && m.kind === 'cosine') {
    throw new UsageError(`--lr-schedule: the warm-up (${warm.epochs} epochs) leaves no epochs of the run (${epochs}) for '${formatSchedule({ warmup: null, main: m })}'`);
  }
  const mainEpochs = epochs - (warm?.epochs ?? 0);
  const build = (): LRScheduler | null => {
    switch (m.kind) {
      case 'none':
        return null;
      case 'step':
        return new StepLR(optimizer, { stepSize: m.stepSize, gamma: m.gamma });
      case 'multistep':
        return new MultiStepLR(optimizer, { milestones: m.milestones, gamma: m.gamma });
      case 'cosine':
        return new CosineAnnealingLR(optimizer, { tMax: mainEpochs, etaMin: m.etaMin });
    }
  };
  if (warm === null) {
    const sched = build();
    return sched === null ? null : { scheduler: sched, interval: 'epoch' };
  }
  const warmup = new LinearLR(optimizer, { startFactor: warm.startFactor, endFactor: 1, totalIters: warm.epochs });
  const rest = build();
  if (rest === null) return { scheduler: warmup, interval: 'epoch' };
  return { scheduler: new SequentialLR(optimizer, { schedulers: [warmup, rest], milestones: [warm.epochs] }), interval: 'epoch' };
}

// ---- augmentation ------------------------------------------------------------------------------

/** What `--augment default` stands for. */
export const DEFAULT_AUGMENT = 'hflip:0.5,resized-crop:0.64,jitter:0.2:0.2';

/** The `--augment` help text. */
export const AUGMENT_HELP = `none (default) | default | a comma list of:
      hflip[:P]             horizontal flip with probability P (default 0.5); vflip[:P] vertical
      crop[:PAD]            RandomCrop to the input size after zero padding PAD (default 2)
      resized-crop[:S]      RandomResizedCrop to the input size, area scale in [S, 1] (default
                            0.64), aspect ratio in [3/4, 4/3]
      rotate[:D]            RandomRotation by up to ±D degrees (default 10)
      affine[:D[:T[:S]]]    RandomAffine: ±D degrees (10), translate ±T of the size (0.1),
                            scale in [1-S, 1+S] (0.1)
      jitter[:B[:C]]        ColorJitter brightness B (default 0.2), contrast C (default B)
      blur[:K[:SMAX]]       GaussianBlur, kernel K (3), sigma uniform in [0.1, SMAX] (2)
      erase[:P]             RandomErasing with probability P (default 0.5)
      default               ${DEFAULT_AUGMENT}: flips, crops of 64-100 % of
                            the area resized back, ±20 % brightness and contrast
                            Applied to training images only, in the loader's worker threads, from
                            the run's seed (reproducible whatever the number of workers).
`;

interface AugmentItem {
  name: string;
  args: number[];
  transform: Transform;
}

function parseAugmentItem(text: string, size: readonly [number, number]): AugmentItem {
  const [name, ...raw] = text.split(':');
  const args = raw.map((a) => {
    const n = a.trim() === '' ? NaN : Number(a);
    if (!Number.isFinite(n)) throw new UsageError(`--augment: '${text}': '${a}' is not a number`);
    return n;
  });
  const arity = (max: number): void => {
    if (args.length > max) throw new UsageError(`--augment: '${text}' takes at most ${max} value(s)`);
  };
  const prob = (v: number, what: string): number => {
    if (!(v >= 0 && v <= 1)) throw new UsageError(`--augment: ${what} must be in [0, 1], got ${v}`);
    return v;
  };
  const nonNeg = (v: number, what: string): number => {
    if (!(v >= 0)) throw new UsageError(`--augment: ${what} must be >= 0, got ${v}`);
    return v;
  };
  try {
    switch (name) {
      case 'hflip':
      case 'vflip': {
        arity(1);
        const p = prob(args[0] ?? 0.5, `${name} probability`);
        return { name, args: [p], transform: name === 'hflip' ? horizontalFlip(p) : verticalFlip(p) };
      }
      case 'crop': {
        arity(1);
        const pad = args[0] ?? 2;
        if (!Number.isInteger(pad) || pad < 0) throw new UsageError(`--augment: crop padding must be an integer >= 0, got ${pad}`);
        return { name, args: [pad], transform: randomCrop([size[0], size[1]], pad) };
      }
      case 'resized-crop': {
        arity(1);
        const s = args[0] ?? 0.64;
        if (!(s > 0 && s <= 1)) throw new UsageError(`--augment: resized-crop scale must be in (0, 1], got ${s}`);
        return { name, args: [s], transform: randomResizedCrop([size[0], size[1]], { scale: [s, 1] }) };
      }
      case 'rotate': {
        arity(1);
        const d = nonNeg(args[0] ?? 10, 'rotate degrees');
        return { name, args: [d], transform: randomRotation(d) };
      }
      case 'affine': {
        arity(3);
        const d = nonNeg(args[0] ?? 10, 'affine degrees');
        const t = prob(args[1] ?? 0.1, 'affine translate');
        const s = args[2] ?? 0.1;
        if (!(s >= 0 && s < 1)) throw new UsageError(`--augment: affine scale must be in [0, 1), got ${s}`);
        return { name, args: [d, t, s], transform: randomAffine(d, { translate: [t, t], scale: [1 - s, 1 + s] }) };
      }
      case 'jitter': {
        arity(2);
        const b = nonNeg(args[0] ?? 0.2, 'jitter brightness');
        const c = nonNeg(args[1] ?? b, 'jitter contrast');
        return { name, args: [b, c], transform: colorJitter({ brightness: b, contrast: c }) };
      }
      case 'blur': {
        arity(2);
        const k = args[0] ?? 3;
        const smax = args[1] ?? 2;
        if (!(smax > 0.1)) throw new UsageError(`--augment: blur's largest sigma must be > 0.1, got ${smax}`);
        return { name, args: [k, smax], transform: gaussianBlur(k, [0.1, smax]) };
      }
      case 'erase': {
        arity(1);
        const p = prob(args[0] ?? 0.5, 'erase probability');
        return { name, args: [p], transform: randomErasing({ p }) };
      }
      default:
        throw new UsageError(`--augment: unknown augmentation '${name}' (valid: hflip, vflip, crop, resized-crop, rotate, affine, jitter, blur, erase; or none, default)`);
    }
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`--augment: '${text}': ${(e as Error).message}`);
  }
}

/**
 * Parses `--augment` into the canonical text (every value spelled out, what the checkpoint
 * records) and the transforms for images of `size` [h, w].
 * @example parseAugment('default', [28, 28]).spec // 'hflip:0.5,resized-crop:0.64,jitter:0.2:0.2'
 */
export function parseAugment(spec: string, size: readonly [number, number]): { spec: string; transforms: Transform[] } {
  const s = spec.trim();
  if (s === 'none' || s === '') return { spec: 'none', transforms: [] };
  const items = (s === 'default' ? DEFAULT_AUGMENT : s).split(',').map((t) => parseAugmentItem(t.trim(), size));
  return { spec: items.map((i) => [i.name, ...i.args].join(':')).join(','), transforms: items.map((i) => i.transform) };
}
