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
import type { Kernels } from './kernels.js';
import { referenceKernels } from './reference/index.js';
import { addon, addonError } from './native/addon.js';
import { noticeFallback } from './native/status.js';
import { generalKernels } from './native/general.js';
import { nnKernels } from './native/nn.js';
import { nativeDTypes } from './native/dtypes.js';
import { metaKernels, PLAIN_LAYOUT, type MetaKernels, type MetaLayout } from './meta/index.js';
import { initWebgpu, webgpuKernels } from './webgpu/index.js';
import { nativeMetaLayout } from './native/memory.js';
import { memoryInUse as referenceMemoryInUse, peakMemory as referencePeakMemory, resetPeakMemory as resetReferencePeakMemory } from './reference/storage.js';

/** Names of the available backends (`meta`: shapes and dtypes only, no data; `webgpu`: GPUs through WebGPU). */
export type BackendName = 'native' | 'reference' | 'meta' | 'webgpu';

/** Every backend name (for argument checks and messages). */
export const BACKEND_NAMES: readonly BackendName[] = ['native', 'reference', 'meta', 'webgpu'];

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

/** The webgpu backend once `useBackend('webgpu')` (or `initWebgpu()`) has created it. */
function webgpu(): Kernels {
  const k = webgpuKernels();
  if (k === null) {
    throw new Error("the webgpu backend is created asynchronously: call `await useBackend('webgpu')` once before selecting it");
  }
  return k;
}

/** True when the webgpu backend has been created in this process. */
export function webgpuReady(): boolean {
  return webgpuKernels() !== null;
}

/** The backend named by CONVNET_BACKEND (native, reference or webgpu), or undefined when unset. */
function envBackend(): BackendName | undefined {
  const env = typeof process !== 'undefined' ? process.env?.CONVNET_BACKEND : undefined;
  if (env === undefined || env === '') return undefined;
  if (env !== 'native' && env !== 'reference' && env !== 'webgpu') {
    throw new Error(`CONVNET_BACKEND must be 'native', 'reference' or 'webgpu', got '${env}'`);
  }
  return env;
}

/** The default CPU backend: native when the addon loads, else reference (with a one-line notice). */
function defaultBackend(): Kernels {
  if (addon !== null) return native();
  noticeFallback(); // one line on stderr: the slower backend runs, and how to get the native one
  return referenceKernels;
}

function initial(): Kernels {
  const env = envBackend();
  if (env === 'webgpu' && !webgpuReady()) {
    throw new Error('CONVNET_BACKEND=webgpu: the webgpu backend is created asynchronously: call `await useBackend()` once before creating tensors');
  }
  return env !== undefined ? backendByName(env) : defaultBackend();
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
  if (name === 'meta') return metaKernels;
  if (name === 'webgpu') return webgpu();
  throw new Error(`unknown backend '${String(name)}' (expected 'native', 'reference', 'meta' or 'webgpu')`);
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
  current = which === undefined ? defaultBackend() : backendByName(which);
  return current;
}

/**
 * Runs `fn` with the kernels `k` as the current backend (a meta backend made by `metaKernelsFor`,
 * counting as the native backend would), restoring the previous one afterwards.
 */
export function withKernels<T>(k: Kernels, fn: () => T): T {
  const prev = getBackend();
  current = k;
  try {
    return fn();
  } finally {
    current = prev;
  }
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
import { nativeCpuInfo } from './native/cpu.js';
export { nativeCpuInfo, setBf16Mode, type NativeCpuInfo, type Bf16Mode } from './native/cpu.js';

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

/**
 * Frees the memory of a host array the caller no longer needs, after `k.fromHost` copied it, now
 * instead of when V8 next collects it (large typed arrays live outside the JS heap, and training may
 * run for long without a collection that reaches them). The array is empty (detached) afterwards.
 * Only for the native backend, whose storages are copies; a no-op elsewhere.
 * @example k.fromHost(h, shape, 'float32'); releaseHostArray(k, h);
 */
export function releaseHostArray(k: Kernels, a: ArrayBufferView): void {
  if (k.name === 'native') addon?.detachHost(a);
}

/** Bytes of free blocks the native and webgpu caching allocators hold. */
export function memoryCached(): number {
  return (addon?.memoryCached() ?? 0) + (webgpuKernels()?.memoryCached() ?? 0);
}

/**
 * Memory statistics of a backend, in bytes (PyTorch's `torch.cuda.memory_stats`): current values and
 * peaks since the last `resetPeakMemoryStats`. Every backend counts its live tensor storages; the
 * native backend also reports its caching allocator and oneDNN's buffers, which are 0 elsewhere.
 */
export interface MemoryStats {
  /** The backend these numbers are of. */
  backend: string;
  /** Bytes of live storages (native: tensors and workspaces, 64-byte rounded) and their peak. */
  live: number;
  peakLive: number;
  /** Free blocks the caching allocator keeps for reuse (native) and their peak. */
  cached: number;
  peakCached: number;
  /** live + cached: what the allocator holds from the system (PyTorch's "reserved") and its peak. */
  reserved: number;
  peakReserved: number;
  /** Live oneDNN workspaces (max-pool argmax kept for backward), a part of `live`, and their peak. */
  workspace: number;
  peakWorkspace: number;
  /** The shared oneDNN scratchpad (temporary buffer of every primitive) and the largest request. */
  scratchpad: number;
  peakScratchpadRequest: number;
  /** Allocations since the reset, and how many of them the cache served. */
  allocations: number;
  cacheHits: number;
}

/** Memory statistics of the backend named `name` (default: the current one). @example cn.memoryStats().peakLive */
export function memoryStats(name?: BackendName): MemoryStats {
  const k = name === undefined ? getBackend() : backendByName(name);
  const zero = { cached: 0, peakCached: 0, workspace: 0, peakWorkspace: 0, scratchpad: 0, peakScratchpadRequest: 0, allocations: 0, cacheHits: 0 };
  if (k.name === 'native') return { backend: 'native', ...(addon!.memoryStats() as Omit<MemoryStats, 'backend'>) };
  if (k.name === 'reference') {
    const live = referenceMemoryInUse();
    const peakLive = referencePeakMemory();
    return { backend: 'reference', ...zero, live, peakLive, reserved: live, peakReserved: peakLive };
  }
  if (k.name === 'meta') {
    const c = (k as MetaKernels).counter;
    return {
      backend: 'meta',
      ...zero,
      live: c.live,
      peakLive: c.peakLive,
      cached: c.reserved - c.live,
      reserved: c.reserved,
      peakReserved: c.peakReserved,
      workspace: c.workspace,
      peakWorkspace: c.peakWorkspace,
    };
  }
  if (k.name === 'webgpu') {
    // GPU buffers of the device's pool (storages; uniforms and staging buffers are not counted).
    const pool = webgpuKernels()!.runtime.pool;
    const live = pool.inUse();
    const cached = pool.cached();
    const peak = pool.peakStats();
    return { backend: 'webgpu', ...zero, live, peakLive: peak.live, cached, peakCached: peak.cached, reserved: live + cached, peakReserved: peak.reserved };
  }
  throw new Error(`memoryStats: no statistics for backend '${k.name}'`);
}

let nativeLayout: MetaLayout | null = null;

/**
 * How the backend `name` (default: the current one) lays tensors out in memory, for a meta backend
 * that counts like it (`metaKernelsFor(memoryLayout())`): the native backend's blocked layouts,
 * workspaces, scratchpads and caching allocator (read from oneDNN's descriptors, nothing runs); the
 * reference backend's plain arrays.
 */
export function memoryLayout(name?: BackendName): MetaLayout {
  const k = name === undefined ? getBackend() : backendByName(name);
  if (k.name !== 'native') return PLAIN_LAYOUT;
  nativeLayout ??= nativeMetaLayout(addon!);
  return nativeLayout;
}

/** Sets every peak of `memoryStats(name)` to its current value (PyTorch's `reset_peak_memory_stats`). */
export function resetPeakMemoryStats(name?: BackendName): void {
  const k = name === undefined ? getBackend() : backendByName(name);
  if (k.name === 'native') addon!.resetPeakMemoryStats();
  else if (k.name === 'reference') resetReferencePeakMemory();
  else if (k.name === 'meta') (k as MetaKernels).counter.resetPeak();
  else if (k.name === 'webgpu') webgpuKernels()!.runtime.pool.resetPeaks();
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

/**
 * Whether backend `k` can run bfloat16 mixed precision at speed: it needs bfloat16 conv/matmul
 * kernels, and on the native backend a CPU with AVX-512 BF16 or AMX (oneDNN runs bf16 on older CPUs
 * only through slow reference code).
 * @example bf16Support(getBackend()) // { ok: false, why: 'this CPU has no AVX-512 BF16 or AMX' }
 */
export function bf16Support(k: Kernels): { ok: boolean; why: string } {
  if (!k.dtypes.conv2d.includes('bfloat16') || !k.dtypes.linear.includes('bfloat16')) {
    return { ok: false, why: `the '${k.name}' backend has no bfloat16 convolution and linear kernels` };
  }
  if (k.name === 'native') {
    const cpu = nativeCpuInfo();
    if (cpu === null || !cpu.bf16Native) return { ok: false, why: `this CPU (${cpu?.isa ?? 'unknown'}) has no AVX-512 BF16 or AMX` };
  }
  return { ok: true, why: '' };
}
