/**
 * Batch normalization over all axes but 1 (x [N, C] or [N, C, ...]) in three kernels:
 *
 * 1. partial statistics: one thread per (chunk of CHUNK consecutive values, channel) computes its
 *    chunk's mean and sum of squared deviations from shifted sums (Σ(x − K), Σ(x − K)² with K the
 *    chunk's first value, which keeps the cancellation small), or, in the backward pass, the sums
 *    Σdy and Σdy·x̂;
 * 2. per channel, the chunks are combined in order (Chan et al.'s parallel variance formula for
 *    the statistics, plain sums for the gradients);
 * 3. one thread per element applies y = (x − mean)·γ/√(var + ε) + β, or
 *    dx = γ/√(var + ε)/m · (m·dy − Σdy − x̂·Σdy·x̂).
 *
 * Chunking spreads each channel's m = N·H·W values over many threads (bnlenet's first layer has 6
 * channels of 100352 values at batch 128). The chunk kernels use no workgroup memory and no
 * barriers: on software adapters (SwiftShader) a barrier costs tens of microseconds, and on GPUs
 * these memory-bound sums gain little from a tree.
 */
import type { BatchNormGrads, BatchNormTrainResult, Shape } from '../kernels.js';
import type { Runtime } from './runtime.js';
import type { GpuStorage } from './storage.js';
import { requireDType } from './elementwise.js';
import { flatGroups, flatMain, numel, storageBinding, u, uniforms } from './wgsl.js';

/** Values per chunk of a channel (one thread each). */
const CHUNK = 256;

function bnDims(shape: Shape): { N: number; C: number; S: number; m: number; chunks: number } {
  let S = 1;
  for (let d = 2; d < shape.length; d++) S *= shape[d]!;
  const N = shape[0]!;
  const m = N * S;
  return { N, C: shape[1]!, S, m, chunks: Math.max(1, Math.ceil(m / CHUNK)) };
}

/**
 * The body of a chunk kernel: thread idx handles channel c = idx / chunks, values j in [j0, j1) of
 * that channel (j = n·S + s), visiting them in order with the flat offset `o` maintained without
 * divisions; `each` is run with `o` in scope.
 */
function chunkLoop(C: number, S: number, m: number, chunks: number, before: string, each: string, after: string): string {
  return `  let c = idx / ${u(chunks)};
  let chunk = idx % ${u(chunks)};
  let j0 = chunk * ${u(CHUNK)};
  let j1 = min(${u(m)}, j0 + ${u(CHUNK)});
  var s = j0 % ${u(S)};
  var o = ((j0 / ${u(S)}) * ${u(C)} + c) * ${u(S)} + s;
${before}
  for (var j: u32 = j0; j < j1; j = j + 1u) {
${each}
    s = s + 1u;
    o = o + 1u;
    if (s == ${u(S)}) { s = 0u; o = o + ${u((C - 1) * S)}; }
  }
${after}`;
}

/** y = (x − mean[c])·γ[c]/√(var[c] + ε) + β[c]. */
function normalize(rt: Runtime, x: GpuStorage, shape: Shape, gamma: GpuStorage, beta: GpuStorage, mean: GpuStorage, variance: GpuStorage, eps: number): GpuStorage {
  const { C, S } = bnDims(shape);
  const n = numel(shape);
  const y = rt.alloc('float32', n);
  const U = uniforms(6, [{ name: 'eps', type: 'f32', value: eps }]);
  const code = `// batchNorm normalize
${storageBinding(0, 'X', 'f32', false)}
${storageBinding(1, 'GAMMA', 'f32', false)}
${storageBinding(2, 'BETA', 'f32', false)}
${storageBinding(3, 'MEAN', 'f32', false)}
${storageBinding(4, 'VAR', 'f32', false)}
${storageBinding(5, 'Y', 'f32', true)}
${U.decl}
${flatMain(
  n,
  `  let c = (idx / ${u(S)}) % ${u(C)};
  let scale = GAMMA[c] / sqrt(VAR[c] + p.eps);
  Y[idx] = (X[idx] - MEAN[c]) * scale + BETA[c];`,
)}`;
  rt.run(code, [x, gamma, beta, mean, variance, y], flatGroups(n), U.data);
  return y;
}

/** Training-mode batch norm: normalizes with the batch statistics and returns them (biased variance). */
export function batchNormTrain(rt: Runtime, x: GpuStorage, shape: Shape, gamma: GpuStorage, beta: GpuStorage, eps: number): BatchNormTrainResult {
  for (const s of [x, gamma, beta]) requireDType('batchNormTrain', s, ['float32']);
  const { C, S, m, chunks } = bnDims(shape);
  const partial = rt.alloc('float32', C * chunks * 2);
  const stats = `// batchNorm statistics (per chunk)
${storageBinding(0, 'X', 'f32', false)}
${storageBinding(1, 'PART', 'f32', true)}
${flatMain(
  C * chunks,
  chunkLoop(
    C,
    S,
    m,
    chunks,
    `  let K = X[o];\n  var s1: f32 = 0.0;\n  var s2: f32 = 0.0;`,
    `    let d = X[o] - K;\n    s1 = s1 + d;\n    s2 = s2 + d * d;`,
    `  let n = f32(j1 - j0);
  PART[idx * 2u] = K + s1 / n;
  PART[idx * 2u + 1u] = max(s2 - s1 * s1 / n, 0.0);`,
  ),
)}`;
  rt.run(stats, [x, partial], flatGroups(C * chunks));
  const mean = rt.alloc('float32', C);
  const variance = rt.alloc('float32', C);
  // Chan et al.: merging (n_a, mean_a, M2_a) with (n_b, mean_b, M2_b):
  // mean = mean_a + δ·n_b/n, M2 = M2_a + M2_b + δ²·n_a·n_b/n with δ = mean_b − mean_a.
  const combine = `// batchNorm statistics (combine chunks)
${storageBinding(0, 'PART', 'f32', false)}
${storageBinding(1, 'MEAN', 'f32', true)}
${storageBinding(2, 'VAR', 'f32', true)}
${flatMain(
  C,
  `  var na: f32 = 0.0;
  var mean: f32 = 0.0;
  var m2: f32 = 0.0;
  for (var k: u32 = 0u; k < ${u(chunks)}; k = k + 1u) {
    let nb = f32(min(${u(m)}, (k + 1u) * ${u(CHUNK)}) - k * ${u(CHUNK)});
    let mb = PART[(idx * ${u(chunks)} + k) * 2u];
    let qb = PART[(idx * ${u(chunks)} + k) * 2u + 1u];
    let n = na + nb;
    let delta = mb - mean;
    mean = mean + delta * (nb / n);
    m2 = m2 + qb + delta * delta * (na * nb / n);
    na = n;
  }
  MEAN[idx] = mean;
  VAR[idx] = m2 / ${m}.0;`,
)}`;
  rt.run(combine, [partial, mean, variance], flatGroups(C));
  partial.dispose();
  const y = normalize(rt, x, shape, gamma, beta, mean, variance, eps);
  return { y, mean, var: variance };
}

/** Eval-mode batch norm with given (running) statistics. */
export function batchNormInference(rt: Runtime, x: GpuStorage, shape: Shape, gamma: GpuStorage, beta: GpuStorage, mean: GpuStorage, variance: GpuStorage, eps: number): GpuStorage {
  for (const s of [x, gamma, beta, mean, variance]) requireDType('batchNormInference', s, ['float32']);
  return normalize(rt, x, shape, gamma, beta, mean, variance, eps);
}

/** Training-mode gradients from the saved batch mean and biased variance. */
export function batchNormBackward(
  rt: Runtime,
  dy: GpuStorage,
  x: GpuStorage,
  shape: Shape,
  gamma: GpuStorage,
  mean: GpuStorage,
  variance: GpuStorage,
  eps: number,
): BatchNormGrads {
  for (const s of [dy, x, gamma, mean, variance]) requireDType('batchNormBackward', s, ['float32']);
  const { C, S, m, chunks } = bnDims(shape);
  const partial = rt.alloc('float32', C * chunks * 2);
  const U = uniforms(5, [{ name: 'eps', type: 'f32', value: eps }]);
  const sums = `// batchNormBackward sums (per chunk)
${storageBinding(0, 'G', 'f32', false)}
${storageBinding(1, 'X', 'f32', false)}
${storageBinding(2, 'MEAN', 'f32', false)}
${storageBinding(3, 'VAR', 'f32', false)}
${storageBinding(4, 'PART', 'f32', true)}
${U.decl}
${flatMain(
  C * chunks,
  chunkLoop(
    C,
    S,
    m,
    chunks,
    `  let mu = MEAN[c];\n  let invstd = 1.0 / sqrt(VAR[c] + p.eps);\n  var s1: f32 = 0.0;\n  var s2: f32 = 0.0;`,
    `    let d = G[o];\n    s1 = s1 + d;\n    s2 = s2 + d * (X[o] - mu) * invstd;`,
    `  PART[idx * 2u] = s1;\n  PART[idx * 2u + 1u] = s2;`,
  ),
)}`;
  rt.run(sums, [dy, x, mean, variance, partial], flatGroups(C * chunks), U.data);
  const dbeta = rt.alloc('float32', C);
  const dgamma = rt.alloc('float32', C);
  const combine = `// batchNormBackward sums (combine chunks)
${storageBinding(0, 'PART', 'f32', false)}
${storageBinding(1, 'DBETA', 'f32', true)}
${storageBinding(2, 'DGAMMA', 'f32', true)}
${flatMain(
  C,
  `  var s: f32 = 0.0;
  var q: f32 = 0.0;
  for (var k: u32 = 0u; k < ${u(chunks)}; k = k + 1u) {
    s = s + PART[(idx * ${u(chunks)} + k) * 2u];
    q = q + PART[(idx * ${u(chunks)} + k) * 2u + 1u];
  }
  DBETA[idx] = s;
  DGAMMA[idx] = q;`,
)}`;
  rt.run(combine, [partial, dbeta, dgamma], flatGroups(C));
  partial.dispose();
  const n = numel(shape);
  const dx = rt.alloc('float32', n);
  const U2 = uniforms(8, [{ name: 'eps', type: 'f32', value: eps }]);
  const apply = `// batchNormBackward dx
${storageBinding(0, 'G', 'f32', false)}
${storageBinding(1, 'X', 'f32', false)}
${storageBinding(2, 'GAMMA', 'f32', false)}
${storageBinding(3, 'MEAN', 'f32', false)}
${storageBinding(4, 'VAR', 'f32', false)}
${storageBinding(5, 'DBETA', 'f32', false)}
${storageBinding(6, 'DGAMMA', 'f32', false)}
${storageBinding(7, 'DX', 'f32', true)}
${U2.decl}
${flatMain(
  n,
  `  let c = (idx / ${u(S)}) % ${u(C)};
  let invstd = 1.0 / sqrt(VAR[c] + p.eps);
  let xhat = (X[idx] - MEAN[c]) * invstd;
  let k = GAMMA[c] * invstd / ${m}.0;
  DX[idx] = k * (${m}.0 * G[idx] - DBETA[c] - xhat * DGAMMA[c]);`,
)}`;
  rt.run(apply, [dy, x, gamma, mean, variance, dbeta, dgamma, dx], flatGroups(n), U2.data);
  return { dx, dgamma, dbeta };
}
