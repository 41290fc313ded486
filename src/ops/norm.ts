/** Batch normalization as `torch.nn.functional.batch_norm` for [N, C], [N, C, L] and [N, C, H, W]. */
import type { Storage } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import { checkFloat, copy, record, reshapeOwned, sameBackend, wrap } from './util.js';
import { needsGrad } from '../autograd/record.js';
import { add, mul, rsqrt, sub } from './elementwise.js';
import { sum } from './reduce.js';
import { reshape } from './shape.js';
import { traceOp, tracing } from './trace.js';

/** Options of `batchNorm` (PyTorch's defaults). */
export interface BatchNormOptions {
  /** Normalize with batch statistics and update the running ones (default false, as F.batch_norm). */
  training?: boolean;
  /** Weight of the new batch statistic in the running average (default 0.1). */
  momentum?: number;
  /** Added to the variance (default 1e-5). */
  eps?: number;
}

/**
 * Batch normalization over every axis but 1. In training mode it normalizes with the batch mean and
 * biased variance and, when running statistics are given, updates them IN PLACE:
 * running = (1 - momentum) * running + momentum * stat, with the UNBIASED batch variance (n/(n-1)) for
 * `runningVar`, as PyTorch. In eval mode it normalizes with the running statistics. Missing
 * weight/bias act as ones/zeros.
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
  const k = sameBackend('batchNorm', x, runningMean, runningVar, weight, bias);
  checkFloat('batchNorm', x);
  const training = opts.training ?? false;
  const momentum = opts.momentum ?? 0.1;
  const eps = opts.eps ?? 1e-5;
  if (!(eps >= 0)) throw new Error(`batchNorm: eps must be >= 0, got ${eps}`);
  if (!Number.isFinite(momentum)) throw new Error(`batchNorm: momentum must be a number, got ${momentum}`);
  if (x.ndim < 2 || x.ndim > 4) {
    throw new Error(`batchNorm: expected an input [N, C], [N, C, L] or [N, C, H, W], got ${fmt(x.shape)}`);
  }
  const C = x.shape[1]!;
  const perChannel: [string, Tensor | null | undefined][] = [
    ['runningMean', runningMean],
    ['runningVar', runningVar],
    ['weight', weight],
    ['bias', bias],
  ];
  for (const [name, t] of perChannel) {
    if (!t) continue;
    checkFloat('batchNorm', t, name);
    if (t.ndim !== 1 || t.shape[0] !== C) {
      throw new Error(`batchNorm: ${name} must have shape [${C}] for input ${fmt(x.shape)}, got ${fmt(t.shape)}`);
    }
  }
  if (!runningMean !== !runningVar) throw new Error('batchNorm: give both runningMean and runningVar, or neither');
  // The kernels take [N, C] or [N, C, H, W]: a 3-D input is viewed as [N, C, L, 1].
  const shapeK = x.ndim === 3 ? [...x.shape, 1] : [...x.shape];
  const n = x.size / Math.max(C, 1);
  if (training && n <= 1) {
    throw new Error(`batchNorm: expected more than 1 value per channel when training, got input ${fmt(x.shape)}`);
  }
  if (!training && (!runningMean || !runningVar)) {
    throw new Error('batchNorm: runningMean and runningVar are required in eval mode (training: false)');
  }
  const gammaOwned = weight ? null : wrap(k, k.full([C], 'float32', 1), [C]);
  const gamma = weight ?? gammaOwned!;

  const xs = x.ndim === 3 ? k.reshape(x.storage, x.shape, shapeK, 'float32') : x.storage;
  const betaS = bias ? bias.storage : k.full([C], 'float32', 0);
  try {
    if (training) {
      const r = k.batchNormTrain(xs, shapeK, gamma.storage, betaS, eps);
      const out = wrap(k, reshapeOwned(k, r.y, shapeK, x.shape, 'float32'), x.shape);
      if (tracing.tracer !== null) traceOp('batchNorm', [x, runningMean, runningVar, weight, bias], out, { training, eps });
      const mean = wrap(k, r.mean, [C]);
      const varB = wrap(k, r.var, [C]);
      if (runningMean && runningVar) {
        updateRunning(runningMean, mean.storage, momentum, 1);
        updateRunning(runningVar, varB.storage, momentum, n / (n - 1));
      }
      const owned = [mean, varB];
      if (gammaOwned) owned.push(gammaOwned);
      return record(
        'batchNorm',
        [x, weight ?? null, bias ?? null],
        out,
        (gy, needs) => {
          const gk = gy.kernels;
          const dy = x.ndim === 3 ? gk.reshape(gy.storage, gy.shape, shapeK, 'float32') : gy.storage;
          const xb = x.ndim === 3 ? gk.reshape(x.storage, x.shape, shapeK, 'float32') : x.storage;
          let g;
          try {
            g = gk.batchNormBackward(dy, xb, shapeK, gamma.storage, mean.storage, varB.storage, eps);
          } finally {
            if (x.ndim === 3) {
              gk.dispose(dy);
              gk.dispose(xb);
            }
          }
          const dx = wrap(gk, reshapeOwned(gk, g.dx, shapeK, x.shape, 'float32'), x.shape);
          return [needs[0] ? dx : null, wrap(gk, g.dgamma, [C]), wrap(gk, g.dbeta, [C])];
        },
        owned,
      );
    }

    const y = k.batchNormInference(xs, shapeK, gamma.storage, betaS, runningMean!.storage, runningVar!.storage, eps);
    const out = wrap(k, reshapeOwned(k, y, shapeK, x.shape, 'float32'), x.shape);
    gammaOwned?.dispose();
    if (tracing.tracer !== null) traceOp('batchNorm', [x, runningMean, runningVar, weight, bias], out, { training, eps });
    // Backward reads the statistics of THIS forward, even if the running ones change before it.
    const recording = needsGrad([x, weight, bias]);
    const rm = recording ? copy(runningMean!) : runningMean!;
    const rv = recording ? copy(runningVar!) : runningVar!;
    return record(
      'batchNorm',
      [x, weight ?? null, bias ?? null],
      out,
      (gy, needs) => {
        // y = (x - mean) * invstd * gamma + beta with fixed statistics.
        const bshape = x.shape.map((d, i) => (i === 1 ? d : 1));
        const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
        const invstd = reshape(rsqrt(add(rv, eps)), bshape);
        const dx = needs[0] ? mul(gy, weight ? mul(invstd, reshape(weight, bshape)) : invstd) : null;
        const dgamma = needs[1] ? sum(mul(gy, mul(sub(x, reshape(rm, bshape)), invstd)), axes) : null;
        const dbeta = needs[2] ? sum(gy, axes) : null;
        return [dx, dgamma, dbeta];
      },
      recording ? [rm, rv] : [],
    );
  } finally {
    if (x.ndim === 3) k.dispose(xs);
    if (!bias) k.dispose(betaS);
  }
}

/** running <- (1 - m) * running + m * scale * stat, in place (the old storage is freed). */
function updateRunning(running: Tensor, stat: Storage, m: number, scale: number): void {
  const k = running.kernels;
  const decayed = k.scalar('mul', running.storage, running.shape, 1 - m, false);
  const next = k.axpy(decayed, stat, running.shape, m * scale);
  k.dispose(decayed);
  running.assign(wrap(k, next, running.shape));
}
