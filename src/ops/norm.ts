/** Batch normalization as `torch.nn.functional.batch_norm` for [N, C], [N, C, L] and [N, C, H, W]. */
import type { Shape, Storage } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt, numel } from '../tensor/shape.js';
import { isFloat } from '../tensor/dtype.js';
import { needsGrad } from '../autograd/record.js';
import { defineOp } from './op.js';
import { attr } from './onnx-api.js';
import { add, mul, rsqrt, sub } from './elementwise.js';
import { sum } from './reduce.js';
import { reshape } from './shape.js';

/** Options of `batchNorm` (PyTorch's defaults). */
export interface BatchNormOptions {
  /** Normalize with batch statistics and update the running ones (default false, as F.batch_norm). */
  training?: boolean;
  /** Weight of the new batch statistic in the running average (default 0.1). */
  momentum?: number;
  /** Added to the variance (default 1e-5). */
  eps?: number;
}

interface BNParams {
  training: boolean;
  momentum: number;
  eps: number;
  /** Shape the kernels see ([N, C] or [N, C, H, W]; a 3-D input is viewed as [N, C, L, 1]). */
  shapeK: number[];
  xShape: Shape;
  C: number;
  /** Values per channel (for the unbiased running variance). */
  n: number;
  /** Eval mode with gradients: the running statistics are copied for backward. */
  keepStats: boolean;
  /** Training mode: the running statistics to update in place (or null). */
  running: [Tensor, Tensor] | null;
}

const batchNormOp = defineOp({
  name: 'batchNorm',
  kernel: 'batchNormTrain',
  setup: (x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, weight: Tensor | null, bias: Tensor | null, opts: BatchNormOptions) => {
    if (!(x instanceof Tensor)) throw new Error(`batchNorm: expected a Tensor input, got ${x === null ? 'null' : typeof x}`);
    const training = opts.training ?? false;
    const momentum = opts.momentum ?? 0.1;
    const eps = opts.eps ?? 1e-5;
    if (!(eps >= 0)) throw new Error(`batchNorm: eps must be >= 0, got ${eps}`);
    if (!Number.isFinite(momentum)) throw new Error(`batchNorm: momentum must be a number, got ${momentum}`);
    if (!isFloat(x.dtype)) throw new Error(`batchNorm: expected a floating-point input, got ${x.dtype} of shape ${fmt(x.shape)}`);
    if (x.ndim < 2 || x.ndim > 4) throw new Error(`batchNorm: expected an input [N, C], [N, C, L] or [N, C, H, W], got ${fmt(x.shape)}`);
    const C = x.shape[1]!;
    // Per-channel tensors are float32 for a bfloat16 input (statistics in float32), else x's dtype.
    const statDtype = x.dtype === 'bfloat16' ? 'float32' : x.dtype;
    const perChannel: [string, Tensor | null][] = [
      ['runningMean', runningMean],
      ['runningVar', runningVar],
      ['weight', weight],
      ['bias', bias],
    ];
    for (const [name, t] of perChannel) {
      if (!t) continue;
      if (!(t instanceof Tensor)) throw new Error(`batchNorm: ${name} must be a Tensor, got ${typeof t}`);
      if (t.dtype !== statDtype) {
        throw new Error(`batchNorm: ${name} must be ${statDtype} for a ${x.dtype} input, got ${t.dtype} (cast it with .to('${statDtype}'))`);
      }
      if (t.ndim !== 1 || t.shape[0] !== C) {
        throw new Error(`batchNorm: ${name} must have shape [${C}] for input ${fmt(x.shape)}, got ${fmt(t.shape)}`);
      }
    }
    if (!runningMean !== !runningVar) throw new Error('batchNorm: give both runningMean and runningVar, or neither');
    const n = x.size / Math.max(C, 1);
    if (training && n <= 1) throw new Error(`batchNorm: expected more than 1 value per channel when training, got input ${fmt(x.shape)}`);
    if (!training && (!runningMean || !runningVar)) throw new Error('batchNorm: runningMean and runningVar are required in eval mode (training: false)');
    const params: BNParams = {
      training,
      momentum,
      eps,
      shapeK: x.ndim === 3 ? [...x.shape, 1] : [...x.shape],
      xShape: x.shape,
      C,
      n,
      keepStats: !training && needsGrad([x, weight, bias]),
      running: training && runningMean && runningVar ? [runningMean, runningVar] : null,
    };
    // Operands 1-4 keep their dtypes (float32 statistics and affine parameters for bf16 inputs).
    return { inputs: [x, weight, bias, runningMean, runningVar], params, shape: x.shape, fixed: [1, 2, 3, 4] };
  },
  forward: (k, [x, w, b, rm, rv], p, c) => {
    const statDtype = c.dtype === 'bfloat16' ? 'float32' : c.dtype;
    const xs = p.xShape.length === 3 ? c.tmp(k.reshape(x as Storage, p.xShape, p.shapeK)) : (x as Storage);
    const gamma = (w as Storage | null) ?? c.tmp(k.full([p.C], statDtype, 1));
    const beta = (b as Storage | null) ?? c.tmp(k.full([p.C], statDtype, 0));
    const toX = (y: Storage): Storage => (p.xShape.length === 3 ? k.reshape(c.tmp(y), p.shapeK, p.xShape) : y);
    if (p.training) {
      const r = k.batchNormTrain(xs, p.shapeK, gamma, beta, p.eps);
      if (p.running !== null) {
        updateRunning(p.running[0], r.mean, p.momentum, 1);
        updateRunning(p.running[1], r.var, p.momentum, p.n / (p.n - 1));
      }
      // The saved statistics, and (when no weight was given) the ones gamma backward needs.
      return { y: toX(r.y), saved: [r.mean, r.var, ...(w === null ? [k.full([p.C], statDtype, 1)] : [])] };
    }
    const y = toX(k.batchNormInference(xs, p.shapeK, gamma, beta, rm as Storage, rv as Storage, p.eps));
    if (!p.keepStats) return y;
    // Backward reads the statistics of THIS forward, even if the running ones change before it.
    const copy = (s: Storage): Storage => k.slice(s, [p.C], [0], [p.C]);
    return { y, saved: [copy(rm as Storage), copy(rv as Storage)] };
  },
  backward: (gy, c) => {
    const p = c.params;
    const [x, weight] = c.inputs as [Tensor, Tensor | null];
    const gk = gy.kernels;
    if (p.training) {
      const [mean, varB, ones] = c.saved as [Storage, Storage, Storage | undefined];
      const gamma = weight?.storage ?? ones!;
      const dy = p.xShape.length === 3 ? gk.reshape(gy.storage, gy.shape, p.shapeK) : gy.storage;
      const xb = p.xShape.length === 3 ? gk.reshape(x.storage, x.shape, p.shapeK) : x.storage;
      let g;
      try {
        g = gk.batchNormBackward(dy, xb, p.shapeK, gamma, mean, varB, p.eps);
      } finally {
        if (p.xShape.length === 3) {
          gk.dispose(dy);
          gk.dispose(xb);
        }
      }
      let dx = c.wrap(g.dx, p.shapeK);
      if (p.xShape.length === 3) dx = reshape(dx, p.xShape);
      const dgamma = c.wrap(g.dgamma, [p.C], g.dgamma.dtype);
      const dbeta = c.wrap(g.dbeta, [p.C], g.dbeta.dtype);
      return [c.needs[0] ? dx : null, dgamma, dbeta, null, null];
    }
    // y = (x - mean) * invstd * gamma + beta with fixed statistics.
    const [rmS, rvS] = c.saved as [Storage, Storage];
    const rm = c.wrap(gk.slice(rmS, [p.C], [0], [p.C]), [p.C], rmS.dtype);
    const rv = c.wrap(gk.slice(rvS, [p.C], [0], [p.C]), [p.C], rvS.dtype);
    const bshape = p.xShape.map((d, i) => (i === 1 ? d : 1));
    const axes = p.xShape.map((_, i) => i).filter((i) => i !== 1);
    const invstd = reshape(rsqrt(add(rv, p.eps)), bshape);
    const dx = c.needs[0] ? mul(gy, weight ? mul(invstd, reshape(weight, bshape)) : invstd) : null;
    const dgamma = c.needs[1] ? sum(mul(gy, mul(sub(x, reshape(rm, bshape)), invstd)), axes) : null;
    const dbeta = c.needs[2] ? sum(gy, axes) : null;
    return [dx, dgamma, dbeta, null, null];
  },
  saves: () => ({ inputs: [0, 1] }),
  onnx: (g, p) => {
    const [x, weight, bias, mean, variance] = g.inputs as (Tensor | null)[];
    const C = p.C;
    const scale = weight ? g.name(weight) : g.floats([C], new Array<number>(C).fill(1));
    const shift = bias ? g.name(bias) : g.floats([C], new Array<number>(C).fill(0));
    if (p.training) {
      throw g.fail('batch normalization with batch statistics (training mode or trackRunningStats: false) cannot be exported');
    }
    return g.node('BatchNormalization', [g.name(x!), scale, shift, g.name(mean!), g.name(variance!)], { epsilon: attr.float(p.eps) });
  },
  // A scale and a shift per element after folding the statistics.
  flops: (p) => 2 * numel(p.xShape),
});

/**
 * Batch normalization over every axis but 1. In training mode it normalizes with the batch mean and
 * biased variance and, when running statistics are given, updates them IN PLACE:
 * running = (1 - momentum) * running + momentum * stat, with the UNBIASED batch variance (n/(n-1)) for
 * `runningVar`, as PyTorch. In eval mode it normalizes with the running statistics. Missing
 * weight/bias act as ones/zeros. A bfloat16 input takes float32 weight, bias and statistics (the
 * statistics are computed in float32); other inputs take them in their own dtype.
 * @example batchNorm(x, runningMean, runningVar, gamma, beta, { training: true })
 */
export function batchNorm(
  x: Tensor,
  runningMean: Tensor | null | undefined,
  runningVar: Tensor | null | undefined,
  weight?: Tensor | null,
  bias?: Tensor | null,
  opts: BatchNormOptions = {},
): Tensor {
  return batchNormOp(x, runningMean ?? null, runningVar ?? null, weight ?? null, bias ?? null, opts);
}

/** running <- (1 - m) * running + m * scale * stat, in place (the old storage is freed). */
function updateRunning(running: Tensor, stat: Storage, m: number, scale: number): void {
  const k = running.kernels;
  const decayed = k.scalar('mul', running.storage, running.shape, 1 - m, false);
  const next = k.axpy(decayed, stat, running.shape, m * scale);
  k.dispose(decayed);
  running.assign(new Tensor(next, running.shape, running.dtype, k));
}
