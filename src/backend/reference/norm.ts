/**
 * Batch normalization over all axes but 1 (x is [N, C] or [N, C, H, W]). Statistics use two passes
 * in doubles (mean, then the mean squared deviation) for accuracy.
 */
import type { BatchNormGrads, BatchNormTrainResult, Shape, Storage } from '../kernels.js';
import { allocFloat, fl, wrap, type FloatArray } from './storage.js';

/** N, C and the number of positions S per (n, c) (1 for [N, C] inputs). */
function bnDims(shape: Shape): { N: number; C: number; S: number } {
  let S = 1;
  for (let d = 2; d < shape.length; d++) S *= shape[d]!;
  return { N: shape[0]!, C: shape[1]!, S };
}

/** Per-channel batch mean and biased variance. */
function channelStats(xd: FloatArray, shape: Shape): { mean: Float64Array; variance: Float64Array } {
  const { N, C, S } = bnDims(shape);
  const m = N * S;
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let n = 0; n < N; n++) {
      const off = (n * C + c) * S;
      for (let i = 0; i < S; i++) s += xd[off + i]!;
    }
    const mu = s / m;
    let q = 0;
    for (let n = 0; n < N; n++) {
      const off = (n * C + c) * S;
      for (let i = 0; i < S; i++) {
        const d = xd[off + i]! - mu;
        q += d * d;
      }
    }
    mean[c] = mu;
    variance[c] = q / m;
  }
  return { mean, variance };
}

/** y = gamma * (x - mean) / sqrt(var + eps) + beta with per-channel mean/var. */
function normalize(xd: FloatArray, shape: Shape, gd: FloatArray, bd: FloatArray, mean: ArrayLike<number>, variance: ArrayLike<number>, eps: number): FloatArray {
  const { N, C, S } = bnDims(shape);
  const y = xd instanceof Float64Array ? new Float64Array(N * C * S) : new Float32Array(N * C * S);
  for (let c = 0; c < C; c++) {
    const invstd = 1 / Math.sqrt(variance[c]! + eps);
    const scale = gd[c]! * invstd;
    const mu = mean[c]!;
    const beta = bd[c]!;
    for (let n = 0; n < N; n++) {
      const off = (n * C + c) * S;
      for (let i = 0; i < S; i++) y[off + i] = (xd[off + i]! - mu) * scale + beta;
    }
  }
  return y;
}

/** Training-mode batch norm: normalizes with the batch statistics and returns them (variance biased). */
export function batchNormTrain(x: Storage, shape: Shape, gamma: Storage, beta: Storage, eps: number): BatchNormTrainResult {
  const xd = fl(x);
  const { mean, variance } = channelStats(xd, shape);
  const y = normalize(xd, shape, fl(gamma), fl(beta), mean, variance, eps);
  const stat = (a: Float64Array): FloatArray => (x.dtype === 'float64' ? a : Float32Array.from(a));
  return { y: wrap(y), mean: wrap(stat(mean)), var: wrap(stat(variance)) };
}

/** Eval-mode batch norm with the given (running) statistics. */
export function batchNormInference(x: Storage, shape: Shape, gamma: Storage, beta: Storage, mean: Storage, variance: Storage, eps: number): Storage {
  return wrap(normalize(fl(x), shape, fl(gamma), fl(beta), fl(mean), fl(variance), eps));
}

/**
 * Training-mode gradients from the saved batch mean and biased variance. With xhat = (x - mean) *
 * invstd and m values per channel: dbeta = Σdy, dgamma = Σ dy·xhat,
 * dx = gamma·invstd/m · (m·dy − dbeta − xhat·dgamma).
 */
export function batchNormBackward(
  dy: Storage,
  x: Storage,
  shape: Shape,
  gamma: Storage,
  mean: Storage,
  variance: Storage,
  eps: number,
): BatchNormGrads {
  const g = fl(dy);
  const xd = fl(x);
  const gd = fl(gamma);
  const md = fl(mean);
  const vd = fl(variance);
  const { N, C, S } = bnDims(shape);
  const m = N * S;
  const dx = allocFloat(dy, N * C * S);
  const dgamma = allocFloat(gamma, C);
  const dbeta = allocFloat(gamma, C);
  for (let c = 0; c < C; c++) {
    const mu = md[c]!;
    const invstd = 1 / Math.sqrt(vd[c]! + eps);
    let sumDy = 0;
    let sumDyXhat = 0;
    for (let n = 0; n < N; n++) {
      const off = (n * C + c) * S;
      for (let i = 0; i < S; i++) {
        const d = g[off + i]!;
        sumDy += d;
        sumDyXhat += d * (xd[off + i]! - mu) * invstd;
      }
    }
    dbeta[c] = sumDy;
    dgamma[c] = sumDyXhat;
    const k = (gd[c]! * invstd) / m;
    for (let n = 0; n < N; n++) {
      const off = (n * C + c) * S;
      for (let i = 0; i < S; i++) {
        const xhat = (xd[off + i]! - mu) * invstd;
        dx[off + i] = k * (m * g[off + i]! - sumDy - xhat * sumDyXhat);
      }
    }
  }
  return { dx: wrap(dx), dgamma: wrap(dgamma), dbeta: wrap(dbeta) };
}
