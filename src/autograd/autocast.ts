/**
 * Autocast (automatic mixed precision) state, as `torch.autocast('cpu', dtype=torch.bfloat16)`:
 * inside `autocast`, ops on PyTorch's CPU lower-precision list (conv2d, linear, matmul) compute in
 * bfloat16, ops on its float32 list (losses, softmax, batch-norm statistics, reductions) compute in
 * float32, and the rest run in the dtype of their inputs. The op runner (src/ops/op.ts) reads this
 * state; casts of the same tensor are made once per autocast region (PyTorch's weight-cast cache).
 */
import type { FloatDType } from '../backend/kernels.js';

/** Options of `autocast`. */
export interface AutocastOptions {
  /** The lower-precision dtype (default and only supported value: 'bfloat16'). */
  dtype?: 'bfloat16';
  /** Turn autocast on (default) or off inside an enclosing region. */
  enabled?: boolean;
}

/** The live autocast state (read by the op runner on every op). */
export const autocastState: {
  /** The lower-precision dtype while a region is active, else null. */
  dtype: FloatDType | null;
  /** Casts made in the current region, by source tensor (cleared when the outermost region ends). */
  cache: Map<object, object>;
} = { dtype: null, cache: new Map() };

/**
 * Runs `fn` with autocast on (or off, with `enabled: false`), restoring the previous state after.
 * @example const loss = cn.autocast({ dtype: 'bfloat16' }, () => crossEntropy(net.forward(x), y));
 */
export function autocast<T>(opts: AutocastOptions, fn: () => T): T {
  const dtype = opts.dtype ?? 'bfloat16';
  if (dtype !== 'bfloat16') throw new Error(`autocast: dtype must be 'bfloat16', got '${String(dtype)}'`);
  const prev = autocastState.dtype;
  const prevCache = autocastState.cache;
  autocastState.dtype = opts.enabled === false ? null : dtype;
  if (autocastState.dtype !== prev) autocastState.cache = new Map();
  try {
    const r = fn();
    if (r !== null && typeof r === 'object' && typeof (r as { then?: unknown }).then === 'function') {
      throw new Error('autocast: the function returned a Promise; autocast regions must be synchronous');
    }
    return r;
  } finally {
    autocastState.dtype = prev;
    autocastState.cache = prevCache;
  }
}

/** True inside an active autocast region. */
export function isAutocastEnabled(): boolean {
  return autocastState.dtype !== null;
}
