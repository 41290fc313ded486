/**
 * Backend selection. The native oneDNN backend is the default when its addon loads; the reference
 * backend (plain TypeScript) is used otherwise, or when chosen with `CONVNET_BACKEND=reference`
 * or `setBackend('reference')`.
 */
import type { Kernels } from './kernels.js';
import { referenceKernels } from './reference/index.js';
import { addon, addonError } from './native/addon.js';
import { noticeFallback } from './native/status.js';
import { generalKernels } from './native/general.js';
import { nnKernels } from './native/nn.js';
import { nativeDTypes } from './native/dtypes.js';
import { metaKernels } from './meta/index.js';

/** Names of the available backends (`meta`: shapes and dtypes only, no data). */
export type BackendName = 'native' | 'reference' | 'meta';

let nativeKernels: Kernels | null = null;

function native(): Kernels {
  if (addon === null) {
    throw new Error(`the native backend is unavailable: ${addonError}`);
  }
  if (nativeKernels === null) {
    nativeKernels = { ...generalKernels(addon), ...nnKernels(addon), name: 'native', dtypes: nativeDTypes };
  }
  return nativeKernels;
}

/** True when the oneDNN addon loaded. */
export function nativeAvailable(): boolean {
  return addon !== null;
}

function initial(): Kernels {
  const env = process.env.CONVNET_BACKEND;
  if (env === 'reference') return referenceKernels;
  if (env === 'native') return native();
  if (env !== undefined && env !== '') {
    throw new Error(`CONVNET_BACKEND must be 'native' or 'reference', got '${env}'`);
  }
  if (addon !== null) return native();
  noticeFallback(); // one line on stderr: the slower backend runs, and how to get the native one
  return referenceKernels;
}

let current: Kernels | null = null;

/** The backend new tensors are created on. */
export function getBackend(): Kernels {
  if (current === null) current = initial();
  return current;
}

/**
 * Chooses the backend for tensors created from now on.
 * @example setBackend('reference') // the pure TypeScript oracle
 */
export function setBackend(name: BackendName): void {
  current = backendByName(name);
}

/** The kernels of a backend by name (throws if unavailable). */
export function backendByName(name: BackendName): Kernels {
  if (name === 'reference') return referenceKernels;
  if (name === 'native') return native();
  if (name === 'meta') return metaKernels;
  throw new Error(`unknown backend '${String(name)}' (expected 'native', 'reference' or 'meta')`);
}

/** Runs `fn` with `name` as the current backend, restoring the previous one afterwards. */
export function withBackend<T>(name: BackendName, fn: () => T): T {
  const prev = getBackend();
  current = backendByName(name);
  try {
    return fn();
  } finally {
    current = prev;
  }
}

export type { Kernels } from './kernels.js';
export { nativeCpuInfo, setBf16Mode, type NativeCpuInfo, type Bf16Mode } from './native/cpu.js';

/**
 * Releases the native backend's cached free memory blocks to the system (as PyTorch's
 * `torch.cuda.empty_cache()` does for its caching allocator); live tensors are untouched.
 * A no-op on the reference backend.
 * @example cn.emptyCache(); // between two models in one process
 */
export function emptyCache(): void {
  addon?.emptyCache();
}

/** Bytes of free blocks the native backend's caching allocator holds (0 without the addon). */
export function memoryCached(): number {
  return addon?.memoryCached() ?? 0;
}

/**
 * Sets the number of threads the native kernels use (OpenMP threads of the calling thread), as
 * PyTorch's `torch.set_num_threads`; data-parallel runs give each process its share of the cores.
 * The reference backend is single-threaded: a no-op there (and without the addon).
 * @example cn.setNumThreads(1);
 */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`setNumThreads: the number of threads must be an integer >= 1, got ${n}`);
  addon?.setNumThreads(n);
}

/** Threads the native kernels use (1 without the addon). */
export function getNumThreads(): number {
  return addon?.getNumThreads() ?? 1;
}
