/** `BatchNorm1d`, `BatchNorm2d` and their lazy variants (PyTorch's concise batch normalization). */
import { Tensor } from '../../tensor/tensor.js';
import { full, ones, zeros } from '../../tensor/creation.js';
import { batchNorm as batchNormOp, type BatchNormOptions as BatchNormOpOptions } from '../../ops/index.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import { expectInput, positiveInt } from './util.js';

/** Options of the batch-norm layers (PyTorch's defaults). */
export interface BatchNormOptions {
  /** Added to the variance, default 1e-5. */
  eps?: number;
  /** Weight of the new batch statistics in the running averages, default 0.1; `null` = cumulative average. */
  momentum?: number | null;
  /** Learnable per-channel `weight` (γ) and `bias` (β), default true. */
  affine?: boolean;
  /** Keep `running_mean` / `running_var` buffers, default true (otherwise batch statistics always). */
  trackRunningStats?: boolean;
}

/**
 * Shared implementation of `BatchNorm1d` / `BatchNorm2d`: per-channel (dim 1) normalization with
 * batch statistics in training mode (updating the running statistics with the *unbiased* batch
 * variance, as PyTorch) and running statistics in evaluation mode. Parameters `weight` / `bias`
 * `[C]`; buffers `running_mean`, `running_var` `[C]` and `num_batches_tracked` (int32 scalar).
 */
export abstract class BatchNormBase extends Module {
  /** Channels (fixed on the first call for lazy variants; 0 until then). */
  numFeatures: number;
  /** Added to the variance. */
  readonly eps: number;
  /** Running-average factor (null: cumulative average). */
  readonly momentum: number | null;
  /** Whether `weight` / `bias` exist. */
  readonly affine: boolean;
  /** Whether running statistics are kept. */
  readonly trackRunningStats: boolean;
  /** γ, `[C]` (null when `affine` is false). */
  weight: Parameter | null;
  /** β, `[C]` (null when `affine` is false). */
  bias: Parameter | null;
  #batches = 0;

  /** Accepted input ranks and their description for errors. */
  protected abstract readonly ranks: readonly number[];
  protected abstract readonly rankText: string;

  constructor(numFeatures: number | null, opts: BatchNormOptions = {}) {
    super();
    const name = new.target.name;
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    this.affine = opts.affine ?? true;
    this.trackRunningStats = opts.trackRunningStats ?? true;
    if (numFeatures === null) {
      this.numFeatures = 0;
      this.weight = this.affine ? Parameter.uninitialized(`${name}().weight`) : null;
      this.bias = this.affine ? Parameter.uninitialized(`${name}().bias`) : null;
      if (this.trackRunningStats) {
        // Uninitialized placeholders (never trained) so that a checkpoint can be loaded before the first call.
        for (const b of ['running_mean', 'running_var']) {
          const p = Parameter.uninitialized(`${name}().${b}`);
          p.requiresGrad = false;
          this.registerBuffer(b, p);
        }
        this.registerBuffer('num_batches_tracked', zeros([], { dtype: 'int32' }));
      }
      const remove = this.registerForwardPreHook((_m, xs) => {
        this.#materialize(xs[0]!);
        remove();
      });
    } else {
      const c = positiveInt(numFeatures, 'numFeatures', name);
      this.numFeatures = c;
      this.weight = this.affine ? new Parameter(ones([c])) : null;
      this.bias = this.affine ? new Parameter(zeros([c])) : null;
      if (this.trackRunningStats) {
        this.registerBuffer('running_mean', zeros([c]));
        this.registerBuffer('running_var', ones([c]));
        this.registerBuffer('num_batches_tracked', zeros([], { dtype: 'int32' }));
      }
    }
  }

  /** Running mean `[C]` (the `running_mean` buffer), or null without running statistics. */
  get runningMean(): Tensor | null {
    return this.trackRunningStats ? this.buffer('running_mean') : null;
  }

  /** Running (unbiased) variance `[C]` (the `running_var` buffer), or null without running statistics. */
  get runningVar(): Tensor | null {
    return this.trackRunningStats ? this.buffer('running_var') : null;
  }

  /** Number of training batches seen (the `num_batches_tracked` buffer). */
  get numBatchesTracked(): number {
    return this.#batches;
  }

  protected layerName(): string {
    return `${this.constructor.name}(${this.numFeatures === 0 ? '?' : this.numFeatures})`;
  }

  #materialize(x: Tensor): void {
    const first = this.weight ?? (this.trackRunningStats ? (this.buffer('running_mean') as Parameter) : null);
    if (first instanceof Parameter && first.isMaterialized) {
      this.numFeatures = first.shape[0]!;
      return;
    }
    this.#checkRank(x);
    const c = x.shape[1]!;
    this.numFeatures = c;
    const k = x.kernels;
    if (this.weight !== null && this.bias !== null) {
      this.weight.materialize([c], k);
      this.bias.materialize([c], k);
      this.weight.assign(new Tensor(k.full([c], 'float32', 1), [c], 'float32', k));
      this.weight.runPendingInits();
      this.bias.runPendingInits();
    }
    if (this.trackRunningStats) {
      for (const [b, v] of [['running_mean', 0], ['running_var', 1]] as const) {
        const p = this.buffer(b) as Parameter;
        if (!p.isMaterialized) {
          p.materialize([c], k);
          p.assign(new Tensor(k.full([c], 'float32', v), [c], 'float32', k));
        }
      }
    }
  }

  #checkRank(x: Tensor): void {
    expectInput(this.ranks.includes(x.ndim), this.layerName(), `expected a ${this.rankText} input`, x);
  }

  override forward(x: Tensor): Tensor {
    this.#checkRank(x);
    expectInput(x.shape[1] === this.numFeatures, this.layerName(), `input has ${x.shape[1]} channels, expected ${this.numFeatures}`, x);
    const useBatchStats = this.training || !this.trackRunningStats;
    if (useBatchStats) {
      let perChannel = x.shape[0]!;
      for (let i = 2; i < x.ndim; i++) perChannel *= x.shape[i]!;
      expectInput(perChannel > 1, this.layerName(), 'expected more than 1 value per channel when training', x);
    }
    let factor = 0;
    if (this.training && this.trackRunningStats) {
      this.#batches += 1;
      const nbt = this.buffer('num_batches_tracked')!;
      const k = nbt.kernels;
      nbt.assign(new Tensor(k.full([], 'int32', this.#batches), [], 'int32', k));
      factor = this.momentum === null ? 1 / this.#batches : this.momentum;
    }
    const runMean = this.trackRunningStats ? this.buffer('running_mean') : null;
    const runVar = this.trackRunningStats ? this.buffer('running_var') : null;
    return this.normalize(x, runMean, runVar, { training: useBatchStats, momentum: factor, eps: this.eps });
  }

  /**
   * The normalization itself, `F.batch_norm` with this layer's weight and bias (running statistics
   * updated in place when training). `dist.SyncBatchNorm` overrides it to use the statistics of
   * the global batch.
   */
  protected normalize(x: Tensor, runMean: Tensor | null, runVar: Tensor | null, opts: BatchNormOpOptions): Tensor {
    return batchNormOp(x, runMean, runVar, this.weight, this.bias, opts);
  }

  protected override onStateLoaded(name: string, src: Tensor): void {
    // Read from the loaded tensor (a checkpoint's, on a CPU backend), not from the buffer, which may
    // live on a backend that reads back only asynchronously.
    if (name === 'num_batches_tracked') this.#batches = src.item();
  }

  override extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}, affine=${this.affine}, trackRunningStats=${this.trackRunningStats}`;
  }
}

/**
 * Batch normalization over `[N, C]` or `[N, C, L]` inputs (as `nn.BatchNorm1d`).
 * @example new nn.BatchNorm1d(120)
 */
export class BatchNorm1d extends BatchNormBase {
  protected readonly ranks = [2, 3] as const;
  protected readonly rankText = '2-D [N, C] or 3-D [N, C, L]';
  /** @param numFeatures channels; `null` makes the layer lazy (prefer `LazyBatchNorm1d`). */
  constructor(numFeatures: number | null, opts: BatchNormOptions = {}) {
    super(numFeatures, opts);
  }
}

/**
 * Batch normalization over `[N, C, H, W]` inputs, per channel (as `nn.BatchNorm2d`).
 * @example new nn.BatchNorm2d(64, { momentum: 0.1 })
 */
export class BatchNorm2d extends BatchNormBase {
  protected readonly ranks = [4] as const;
  protected readonly rankText = '4-D [N, C, H, W]';
  /** @param numFeatures channels; `null` makes the layer lazy (prefer `LazyBatchNorm2d`). */
  constructor(numFeatures: number | null, opts: BatchNormOptions = {}) {
    super(numFeatures, opts);
  }
}

/**
 * `BatchNorm1d` whose channel count is fixed by the first call (as `nn.LazyBatchNorm1d`); an
 * `instanceof BatchNorm1d`.
 */
export class LazyBatchNorm1d extends BatchNorm1d {
  constructor(opts: BatchNormOptions = {}) {
    super(null, opts);
  }
}

/**
 * `BatchNorm2d` whose channel count is fixed by the first call (as `nn.LazyBatchNorm2d`); an
 * `instanceof BatchNorm2d`.
 * @example new nn.Sequential(new nn.LazyConv2d(6, { kernelSize: 5 }), new nn.LazyBatchNorm2d(), new nn.Sigmoid())
 */
export class LazyBatchNorm2d extends BatchNorm2d {
  constructor(opts: BatchNormOptions = {}) {
    super(null, opts);
  }
}
