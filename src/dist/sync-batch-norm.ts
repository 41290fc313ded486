/**
 * Synchronized batch normalization (PyTorch's `nn.SyncBatchNorm`): in training, every rank
 * normalizes with the mean and variance of the GLOBAL batch (all ranks' shards), so a data-parallel
 * run computes what one process with the whole batch computes. Costs one small allreduce per layer
 * in forward (per-channel count-weighted sums) and one in backward (the sums of dy and dy * x_hat).
 *
 * Forward: each rank's batch mean m_r and biased variance v_r over its n_r values per channel are
 * combined in float64: mean = sum(n_r m_r) / N, var = sum(n_r (v_r + m_r^2)) / N - mean^2. Then
 * y = (x - mean) / sqrt(var + eps) * gamma + beta (the eval-mode kernel with these statistics), and
 * the running statistics move toward mean and the unbiased var * N / (N - 1), as PyTorch.
 *
 * Backward: with x_hat = (x - mean) * invstd and each rank's dy (the gradient of its own loss),
 *   dx = gamma * invstd * (dy - sum(dy) / N - x_hat * sum(dy * x_hat) / N)
 * where the sums run over the global batch (one allreduce); dgamma = sum(dy * x_hat) and
 * dbeta = sum(dy) stay this rank's own sums, which the gradient reducer then averages like every
 * other parameter gradient. Summing every rank's loss gradient through the shared statistics is
 * what makes the averaged gradients those of the single-process run.
 */
import type { Kernels, Storage } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import { add, batchNorm, defineOp, mul, sub, type BatchNormOptions as BatchNormOpOptions } from '../ops/index.js';
import { BatchNormBase, type BatchNormOptions } from '../nn/layers/batchnorm.js';
import { BatchNorm as ScratchBatchNorm } from '../nn/batch-norm-scratch.js';
import type { Module } from '../nn/module.js';
import type { World } from './world.js';

/** Options of `syncBatchNorm` (training mode; eval mode is plain `batchNorm`). */
export interface SyncBatchNormOptions {
  /** Weight of the new global statistics in the running averages (default 0.1). */
  momentum?: number;
  /** Added to the variance (default 1e-5). */
  eps?: number;
}

/** float32 host values of a [n] storage (batch statistics are small: a synchronous read). */
function hostF32(k: Kernels, s: Storage, n: number): ArrayLike<number> {
  if (k.toHost === undefined) throw new Error(`syncBatchNorm: the '${k.name}' backend cannot read statistics back synchronously`);
  return k.toHost(s, [n]) as Float32Array;
}

/** running <- (1 - m) * running + m * scale * stat, in place. */
function updateRunning(running: Tensor, stat: Float64Array, m: number, scale: number): void {
  const k = running.kernels;
  const cur = running.toArray();
  const next = new Float32Array(cur.length);
  for (let c = 0; c < cur.length; c++) next[c] = (1 - m) * cur[c]! + m * scale * stat[c]!;
  running.assign(new Tensor(k.fromHost(next, running.shape, 'float32'), running.shape, 'float32', k));
}

interface SyncParams {
  world: World;
  momentum: number;
  eps: number;
  C: number;
  /** Values per channel on this rank. */
  n: number;
  shapeK: number[];
  xShape: readonly number[];
  running: [Tensor | null, Tensor | null];
  /** Values per channel over the world (set by forward). */
  total: number;
}

const syncBatchNormOp = defineOp({
  name: 'syncBatchNorm',
  kernel: 'batchNormTrain',
  setup: (x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, weight: Tensor | null, bias: Tensor | null, world: World, opts: SyncBatchNormOptions) => {
    if (!(x instanceof Tensor)) throw new Error(`syncBatchNorm: expected a Tensor input, got ${typeof x}`);
    if (x.dtype !== 'float32') throw new Error(`syncBatchNorm: expected a float32 input, got ${x.dtype} of shape ${fmt(x.shape)}`);
    if (x.ndim < 2 || x.ndim > 4) throw new Error(`syncBatchNorm: expected an input [N, C], [N, C, L] or [N, C, H, W], got ${fmt(x.shape)}`);
    const C = x.shape[1]!;
    for (const [name, t] of [['runningMean', runningMean], ['runningVar', runningVar], ['weight', weight], ['bias', bias]] as const) {
      if (t !== null && (t.ndim !== 1 || t.shape[0] !== C)) {
        throw new Error(`syncBatchNorm: ${name} must have shape [${C}] for input ${fmt(x.shape)}, got ${fmt(t.shape)}`);
      }
    }
    const params: SyncParams = {
      world,
      momentum: opts.momentum ?? 0.1,
      eps: opts.eps ?? 1e-5,
      C,
      n: x.size / C,
      shapeK: x.ndim === 3 ? [...x.shape, 1] : [...x.shape],
      xShape: x.shape,
      running: [runningMean, runningVar],
      total: 0,
    };
    return { inputs: [x, weight, bias], params, shape: x.shape, fixed: [1, 2] };
  },
  forward: (k, [x, w, b], p, c) => {
    const { C, n, shapeK, eps } = p;
    const xs = p.xShape.length === 3 ? c.tmp(k.reshape(x as Storage, p.xShape, shapeK)) : (x as Storage);
    const ones = c.tmp(k.full([C], 'float32', 1));
    const zerosS = c.tmp(k.full([C], 'float32', 0));
    // This rank's statistics (the normalized output of this call is not needed).
    const local = k.batchNormTrain(xs, shapeK, ones, zerosS, eps);
    c.tmp(local.y);
    const m = hostF32(k, c.tmp(local.mean), C);
    const v = hostF32(k, c.tmp(local.var), C);
    const sums = new Float64Array(2 * C + 1);
    for (let i = 0; i < C; i++) {
      sums[i] = n * m[i]!;
      sums[C + i] = n * (v[i]! + m[i]! * m[i]!);
    }
    sums[2 * C] = n;
    p.world.allreduce(sums);
    const N = sums[2 * C]!;
    if (N <= 1) throw new Error(`syncBatchNorm: expected more than 1 value per channel over the world when training, got input ${fmt(p.xShape)} per rank`);
    p.total = N;
    const gmean = new Float64Array(C);
    const gvar = new Float64Array(C);
    for (let i = 0; i < C; i++) {
      gmean[i] = sums[i]! / N;
      gvar[i] = Math.max(0, sums[C + i]! / N - gmean[i]! * gmean[i]!);
    }
    const meanS = k.fromHost(Float32Array.from(gmean), [C], 'float32');
    const varS = k.fromHost(Float32Array.from(gvar), [C], 'float32');
    const gamma = (w as Storage | null) ?? k.full([C], 'float32', 1);
    let y = k.batchNormInference(xs, shapeK, gamma, (b as Storage | null) ?? zerosS, meanS, varS, eps);
    if (p.xShape.length === 3) y = k.reshape(c.tmp(y), shapeK, p.xShape);
    if (p.running[0] !== null) updateRunning(p.running[0], gmean, p.momentum, 1);
    if (p.running[1] !== null) updateRunning(p.running[1], gvar, p.momentum, N / (N - 1));
    // Saved: the global statistics, and gamma (ones when there is no weight).
    return { y, saved: w === null ? [meanS, varS, gamma] : [meanS, varS] };
  },
  backward: (gy, c) => {
    const p = c.params;
    const { C, shapeK, eps, total } = p;
    const x = c.inputs[0] as Tensor;
    const gk = gy.kernels;
    const [meanS, varS, ones] = c.saved as [Storage, Storage, Storage | undefined];
    const gammaS = (c.inputs[1] as Tensor | null)?.storage ?? ones!;
    const dy = p.xShape.length === 3 ? gk.reshape(gy.storage, gy.shape, shapeK) : gy.storage;
    const xb = p.xShape.length === 3 ? gk.reshape(x.storage, x.shape, shapeK) : x.storage;
    let g;
    try {
      // dgamma = sum(dy * x_hat), dbeta = sum(dy) over this rank's values, with the global statistics.
      g = gk.batchNormBackward(dy, xb, shapeK, gammaS, meanS, varS, eps);
    } finally {
      if (p.xShape.length === 3) {
        gk.dispose(dy);
        gk.dispose(xb);
      }
    }
    gk.dispose(g.dx);
    const dgamma = c.wrap(g.dgamma, [C]);
    const dbeta = c.wrap(g.dbeta, [C]);
    let dx: Tensor | null = null;
    if (c.needs[0]) {
      const sums = new Float64Array(2 * C);
      sums.set(dbeta.toArray(), 0);
      sums.set(dgamma.toArray(), C);
      p.world.allreduce(sums);
      const gm = hostF32(gk, gammaS, C);
      const mu = hostF32(gk, meanS, C);
      const va = hostF32(gk, varS, C);
      const a = new Float32Array(C);
      const b = new Float32Array(C);
      const c0 = new Float32Array(C);
      for (let i = 0; i < C; i++) {
        const invstd = 1 / Math.sqrt(va[i]! + eps);
        const gi = gm[i]! * invstd;
        a[i] = gi;
        b[i] = (-gi * invstd * sums[C + i]!) / total;
        c0[i] = (-gi * sums[i]!) / total;
      }
      // dx = dy * a + (x - mean) * b + c0, per channel (a, b, c0 broadcast over all axes but 1).
      const bshape = x.shape.map((d, i) => (i === 1 ? d : 1));
      const t = (h: ArrayLike<number>): Tensor => c.wrap(gk.fromHost(Float32Array.from(h), bshape, 'float32'), bshape);
      dx = add(add(mul(gy, t(a)), mul(sub(x, t(mu)), t(b))), t(c0));
    }
    return [dx, c.needs[1] ? dgamma : null, c.needs[2] ? dbeta : null];
  },
  onnx: (g) => {
    throw g.fail('synchronized batch normalization in training mode cannot be exported (export in eval mode)');
  },
});

/**
 * Batch normalization in training mode with the statistics of the global batch over `world` (see
 * the file comment); every rank must call it for the same layers in the same order. Running
 * statistics, when given, are updated in place. In a world of one it is `batchNorm(..., { training: true })`.
 * @example const y = syncBatchNorm(x, runningMean, runningVar, gamma, beta, world, { momentum: 0.1 });
 */
export function syncBatchNorm(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  world: World,
  opts: SyncBatchNormOptions = {},
): Tensor {
  if (!world.isDistributed) return batchNorm(x, runningMean, runningVar, weight, bias, { training: true, momentum: opts.momentum ?? 0.1, eps: opts.eps ?? 1e-5 });
  return syncBatchNormOp(x, runningMean, runningVar, weight, bias, world, opts);
}

/**
 * `nn.SyncBatchNorm`: a batch-norm layer (any input [N, C, ...] of 2 to 4 dims) that normalizes
 * with the global batch's statistics in training mode (see `syncBatchNorm`) and with its running
 * statistics in eval mode. Usually made by `convertSyncBatchNorm`.
 * @example const bn = new SyncBatchNorm(64, world);
 */
export class SyncBatchNorm extends BatchNormBase {
  protected readonly ranks = [2, 3, 4] as const;
  protected readonly rankText = '2-D, 3-D or 4-D [N, C, ...]';
  /** The processes whose batches are normalized together. */
  readonly world: World;

  constructor(numFeatures: number, world: World, opts: BatchNormOptions = {}) {
    super(numFeatures, opts);
    this.world = world;
  }

  protected override normalize(x: Tensor, runMean: Tensor | null, runVar: Tensor | null, opts: BatchNormOpOptions): Tensor {
    if (!opts.training || !this.world.isDistributed) return super.normalize(x, runMean, runVar, opts);
    return syncBatchNorm(x, runMean, runVar, this.weight, this.bias, this.world, { momentum: opts.momentum, eps: opts.eps });
  }
}

/**
 * Replaces every `BatchNorm1d` / `BatchNorm2d` (and their lazy forms, materialized) in `module`
 * by a `SyncBatchNorm` with the same settings, parameters and statistics (PyTorch's
 * `SyncBatchNorm.convert_sync_batchnorm`); returns how many it replaced. Call it before creating
 * the optimizer (the layers get new parameter tensors). The lecture's from-scratch `BatchNorm`
 * cannot be synchronized and is an error.
 * @example if (convertSyncBatchNorm(model, world) === 0) console.log('no batch norm to synchronize');
 */
export function convertSyncBatchNorm(module: Module, world: World): number {
  const swaps: [Module, string, BatchNormBase, string][] = [];
  for (const [prefix, m] of module.namedModules()) {
    for (const [name, child] of m.namedChildren()) {
      const path = prefix === '' ? name : `${prefix}.${name}`;
      if (child instanceof ScratchBatchNorm) {
        throw new Error(`convertSyncBatchNorm: '${path}' is the lecture's from-scratch BatchNorm, which cannot use the global batch's statistics (use BatchNorm2d / BatchNorm1d)`);
      }
      if (child instanceof BatchNormBase && !(child instanceof SyncBatchNorm)) swaps.push([m, name, child, path]);
    }
  }
  for (const [parent, name, bn, path] of swaps) {
    if (bn.numFeatures === 0) throw new Error(`convertSyncBatchNorm: '${path}' is a lazy layer not materialized yet; run one forward pass first`);
    const sync = new SyncBatchNorm(bn.numFeatures, world, {
      eps: bn.eps,
      momentum: bn.momentum,
      affine: bn.affine,
      trackRunningStats: bn.trackRunningStats,
    });
    sync.loadStateDict(bn.stateDict());
    sync.train(bn.training);
    parent.registerModule(name, sync);
    bn.dispose();
  }
  return swaps.length;
}
