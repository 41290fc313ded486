/**
 * Copying a tensor's values to a backend and dtype without the autograd graph: on the same backend
 * with the backend's own kernels (no read-back, so it works on GPU backends), across backends
 * through the host (the source must read back synchronously: CPU backends).
 */
import type { DType, Kernels, Shape } from '../backend/kernels.js';
import { Tensor } from './tensor.js';
import { fmt, numel } from './shape.js';
import { hostArrayOf, hostValues } from './dtype.js';

/**
 * A new tensor on `k` with `src`'s values in `dtype`, viewed as `shape` (same element count).
 * @example copyTo(checkpointTensor, param.kernels, param.dtype, param.shape)
 */
export function copyTo(src: Tensor, k: Kernels, dtype: DType = src.dtype, shape: Shape = src.shape): Tensor {
  if (numel(shape) !== src.size) throw new Error(`copyTo: ${src.size} values do not fill shape ${fmt(shape)}`);
  if (src.kernels === k) {
    const view = k.reshape(src.storage, src.shape, shape);
    try {
      const s = src.dtype === dtype ? k.slice(view, shape, shape.map(() => 0), shape) : k.cast(view, shape, dtype);
      return new Tensor(s, shape, dtype, k);
    } finally {
      k.dispose(view);
    }
  }
  const host = hostArrayOf(dtype, hostValues(src.dtype, src.toHost()));
  return new Tensor(k.fromHost(host, shape, dtype), shape, dtype, k);
}
