/**
 * Training precision: 'fp32', or 'bf16-mixed' (PyTorch's CPU autocast to bfloat16: convolutions,
 * linear layers and matmuls in bfloat16 with float32 accumulation; batch-norm statistics, softmax,
 * losses and reductions in float32; float32 master weights, gradients and optimizer state).
 */
import type { Kernels } from '../backend/kernels.js';
import { bf16Support } from '../backend/index.js';
import { autocast } from '../autograd/autocast.js';

/** The precisions training can run in. */
export const PRECISIONS = ['fp32', 'bf16-mixed'] as const;
/** A training precision. */
export type Precision = (typeof PRECISIONS)[number];

/** The precision a run will use, and the notice to print when it had to fall back. */
export interface ResolvedPrecision {
  precision: Precision;
  /** One line saying why bf16-mixed runs in fp32 here (null when nothing was changed). */
  notice: string | null;
}

/**
 * `requested` on backend `k`: bf16-mixed needs the backend's bfloat16 kernels and a CPU that runs
 * them natively (AVX-512 BF16 or AMX); otherwise it is fp32, with a notice (never slow emulation or
 * garbage). `CONVNET_BF16=force` skips the CPU check (for tests of the bf16 code paths).
 * @example const { precision, notice } = resolvePrecision('bf16-mixed', getBackend());
 */
export function resolvePrecision(requested: Precision, k: Kernels): ResolvedPrecision {
  if (!(PRECISIONS as readonly string[]).includes(requested)) {
    throw new Error(`precision must be one of ${PRECISIONS.join(', ')}, got '${String(requested)}'`);
  }
  if (requested === 'fp32') return { precision: 'fp32', notice: null };
  const s = bf16Support(k);
  // CONVNET_BF16=force: bf16 numerics where the kernels exist but are not fast (tests, accuracy checks).
  const force = typeof process !== 'undefined' && process.env?.CONVNET_BF16 === 'force';
  if (s.ok || (force && k.dtypes.conv2d.includes('bfloat16'))) return { precision: 'bf16-mixed', notice: null };
  return { precision: 'fp32', notice: `bf16-mixed is not available here (${s.why}): training in fp32` };
}

/** Runs `fn` under the precision's autocast (fp32: as is). */
export function withPrecision<T>(precision: Precision, fn: () => T): T {
  return precision === 'bf16-mixed' ? autocast({ dtype: 'bfloat16' }, fn) : fn();
}
