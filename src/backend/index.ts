/**
 * Backend selection. The native oneDNN backend is the default when its addon loads; the reference
 * backend (plain TypeScript) is used otherwise, or when chosen with `CONVNET_BACKEND=reference`
 * or `setBackend('reference')`.
 *
 * The webgpu backend is created asynchronously (WebGPU's adapter and device requests are
 * promises), so it is selected with `await useBackend('webgpu')` (which works for every backend):
 * afterwards `setBackend('webgpu')`, `backendByName('webgpu')` and `withBackend('webgpu', ...)`
 * work synchronously too. `CONVNET_BACKEND=webgpu` is honoured by `await useBackend()` (no
 * argument: the environment's choice or the default). Without a usable adapter, `useBackend`
 * rejects with one line saying why, and the CPU backends are unaffected.
 */
import type { DType, HostArray, Kernels, Shape, Storage } from './kernels.js';
import { referenceKernels } from './reference/index.js';
import { addon, addonError } from './native/addon.js';
import { generalKernels } from './native/general.js';
import { nnKernels } from './native/nn.js';
import { initWebgpu, webgpuKernels } from './webgpu/index.js';
import { legacyKernels } from './webgpu/legacy.js';

/** Names of the available backends. */
export type BackendName = 'native' | 'reference' | 'webgpu';

/** Every backend name (for argument checks and messages). */
export const BACKEND_NAMES: readonly BackendName[] = ['native', 'reference', 'webgpu'];

let nativeKernels: Kernels | null = null;

function native(): Kernels {
  if (addon === null) {
    throw new Error(`the native backend is unavailable: ${addonError}`);
  }
  if (nativeKernels === null) {
    nativeKernels = { ...generalKernels(addon), ...nnKernels(addon), name: 'native' };
  }
  return nativeKernels;
}

/** True when the oneDNN addon loaded. */
export function nativeAvailable(): boolean {
  return addon !== null;
}

let webgpuLegacy: Kernels | null = null;

/** The webgpu backend once `useBackend('webgpu')` (or `initWebgpu()`) has created it. */
function webgpu(): Kernels {
  const k = webgpuKernels();
  if (k === null) {
    throw new Error("the webgpu backend is created asynchronously: call `await useBackend('webgpu')` once before selecting it");
  }
  webgpuLegacy ??= legacyKernels(k);
  return webgpuLegacy;
}

/** True when the webgpu backend has been created in this process. */
export function webgpuReady(): boolean {
  return webgpuKernels() !== null;
}

/** The backend named by CONVNET_BACKEND, or undefined when it is unset. */
function envBackend(): BackendName | undefined {
  const env = typeof process !== 'undefined' ? process.env?.CONVNET_BACKEND : undefined;
  if (env === undefined || env === '') return undefined;
  if (!(BACKEND_NAMES as readonly string[]).includes(env)) {
    throw new Error(`CONVNET_BACKEND must be one of ${BACKEND_NAMES.join(', ')}, got '${env}'`);
  }
  return env as BackendName;
}

function initial(): Kernels {
  const env = envBackend();
  if (env === 'webgpu' && !webgpuReady()) {
    throw new Error("CONVNET_BACKEND=webgpu: the webgpu backend is created asynchronously: call `await useBackend()` once before creating tensors");
  }
  if (env !== undefined) return backendByName(env);
  return addon !== null ? native() : referenceKernels;
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

/** The kernels of a backend by name (throws if unavailable; webgpu: once `useBackend('webgpu')` ran). */
export function backendByName(name: BackendName): Kernels {
  if (name === 'reference') return referenceKernels;
  if (name === 'native') return native();
  if (name === 'webgpu') return webgpu();
  throw new Error(`unknown backend '${String(name)}' (expected ${BACKEND_NAMES.map((n) => `'${n}'`).join(', ')})`);
}

/**
 * Creates the backend if needed (webgpu: the adapter and device requests) and selects it for
 * tensors created from now on; returns its kernels. Without an argument: CONVNET_BACKEND, else the
 * default (native when the addon loads, else reference). Rejects with one line when the backend is
 * unavailable (e.g. "WebGPU is unavailable: no WebGPU adapter ..."), leaving the selection as it was.
 * @example await cn.useBackend('webgpu'); const x = cn.randn([2, 3]); // on the GPU
 */
export async function useBackend(name?: BackendName): Promise<Kernels> {
  const which = name ?? envBackend();
  if (which === 'webgpu') await initWebgpu();
  current = which === undefined ? (addon !== null ? native() : referenceKernels) : backendByName(which);
  return current;
}

/**
 * Reads a storage back to the host asynchronously, on any backend (GPU backends can only do this
 * asynchronously; CPU backends answer at once). Until Engine II adds `await t.data()`:
 * @example const [loss] = await readStorage(l.kernels, l.storage, l.shape, l.dtype);
 */
export async function readStorage(k: Kernels, s: Storage, shape: Shape, dtype: DType): Promise<HostArray> {
  const gpu = (k as { webgpu?: { read(s: Storage, shape: Shape): Promise<HostArray> } }).webgpu;
  if (gpu !== undefined) return gpu.read(s, shape);
  return k.toHost(s, shape, dtype);
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

/**
 * Releases the native and webgpu backends' cached free memory blocks (as PyTorch's
 * `torch.cuda.empty_cache()` does for its caching allocator); live tensors are untouched.
 * A no-op on the reference backend.
 * @example cn.emptyCache(); // between two models in one process
 */
export function emptyCache(): void {
  addon?.emptyCache();
  webgpuKernels()?.emptyCache();
}

/** Bytes of free blocks the native and webgpu caching allocators hold. */
export function memoryCached(): number {
  return (addon?.memoryCached() ?? 0) + (webgpuKernels()?.memoryCached() ?? 0);
}
