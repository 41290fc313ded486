/**
 * The runtime of one WebGPU device: its buffer pool, pipeline cache and command batch, plus the
 * three things every kernel does (allocate an output, dispatch a WGSL kernel, upload/read data).
 *
 * Errors that only show up on the GPU timeline are reported at the next read-back (`read`), the
 * first point where the host waits for the device anyway:
 * - device errors (validation, out of memory, a shader that fails to compile), caught through
 *   `uncapturederror` and `getCompilationInfo`;
 * - out-of-range indices given to indexSelect/indexAdd/gatherRows/scatterRows, which the kernels
 *   record in a small flag buffer (first the kernel, then the offending index and the bound).
 */
/// <reference types="@webgpu/types" />
import type { DType } from '../kernels.js';
import { BufferPool, Usage } from './buffer-pool.js';
import { CommandBatch, type Binding } from './commands.js';
import { PipelineCache } from './pipelines.js';
import { GpuStorage, bytesPer } from './storage.js';
import type { DeviceInfo } from './device.js';

/**
 * Which matrix-multiply kernel (gemm.ts) a runtime uses: `tiled` (workgroup memory; GPUs) or
 * `direct` (no barriers; software adapters).
 */
export type GemmVariant = 'tiled' | 'direct';

/** Kernels that check indices on the GPU, and their slot in the flag buffer. */
export const INDEX_CHECKS = ['indexSelect', 'indexAdd', 'gatherRows', 'scatterRows'] as const;
export type IndexCheck = (typeof INDEX_CHECKS)[number];

/** u32 words per index-check slot: [hit, offending index, bound]. */
const SLOT_WORDS = 3;
const FLAG_BYTES = Math.ceil((INDEX_CHECKS.length * SLOT_WORDS * 4) / 16) * 16;

/** One device's allocator, pipeline cache and command batch. */
export class Runtime {
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  readonly batch: CommandBatch;
  private readonly readback: BufferPool;
  private readonly flags: GPUBuffer;
  /** Which GEMM kernel to use (gemm.ts): tiled on GPUs, direct on software adapters. */
  gemmVariant: GemmVariant;
  private deviceError: string | null = null;
  private lostReason: string | null = null;

  constructor(
    readonly device: GPUDevice,
    readonly info: DeviceInfo,
    /** Objects the device depends on (see `CreatedDevice.keepAlive`). */
    readonly keepAlive: readonly unknown[] = [],
  ) {
    this.gemmVariant = info.software ? 'direct' : 'tiled';
    this.batch = new CommandBatch(device);
    this.pool = new BufferPool(device, this.batch);
    this.readback = new BufferPool(device, this.batch, Usage.MAP_READ | Usage.COPY_DST);
    this.pipelines = new PipelineCache(device, (msg) => this.fail(msg));
    this.flags = device.createBuffer({ size: FLAG_BYTES, usage: Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST });
    device.addEventListener('uncapturederror', (ev) => this.fail((ev as GPUUncapturedErrorEvent).error.message));
    void device.lost.then((l) => {
      this.lostReason = l.message || String(l.reason);
    });
  }

  /** Records the first device error; it is thrown by the next `read`. */
  private fail(message: string): void {
    this.deviceError ??= message.split('\n').slice(0, 6).join(' | ');
  }

  /** Throws when the device was lost (every later call would fail obscurely). */
  checkAlive(): void {
    if (this.lostReason !== null) throw new Error(`webgpu backend: the GPU device was lost (${this.lostReason})`);
  }

  /** A new storage of `n` elements of `dtype` (contents undefined until a kernel writes them). */
  alloc(dtype: DType, n: number): GpuStorage {
    this.checkAlive();
    const bytes = n * bytesPer(dtype);
    return GpuStorage.wrap(dtype, n, this.pool.acquire(bytes), this.pool);
  }

  /** A new storage holding `data` (its bytes are uploaded now, ordered before later kernels). */
  upload(data: ArrayBufferView, dtype: DType, n: number): GpuStorage {
    this.checkAlive();
    const bytes = n * bytesPer(dtype);
    const buffer = this.pool.acquire(bytes, true);
    if (bytes > 0) this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, bytes);
    return GpuStorage.wrap(dtype, n, buffer, this.pool);
  }

  /**
   * Dispatches the kernel `code` (entry point `main`) with `bindings` at bindings 0..k-1 and the
   * uniform bytes, if any, at binding k. Storages are bound over their data bytes (at least 4).
   */
  run(code: string, bindings: readonly (GpuStorage | Binding)[], groups: readonly [number, number, number], uniform: ArrayBuffer | null = null): void {
    this.checkAlive();
    const pipeline = this.pipelines.get(code);
    const b = bindings.map((x) => (x instanceof GpuStorage ? { buffer: x.buffer, size: Math.max(4, x.bytes) } : x));
    this.batch.dispatch(pipeline, b, uniform, groups);
  }

  /** The index-check flag buffer, for kernels that validate indices. */
  get flagBinding(): Binding {
    return { buffer: this.flags, size: FLAG_BYTES };
  }

  /** WGSL that records a bad index `v` (i32) against `bound` in the slot of `kernel`. */
  static reportBadIndex(kernel: IndexCheck, flagsVar: string, v: string, bound: string): string {
    const s = INDEX_CHECKS.indexOf(kernel) * SLOT_WORDS;
    return `atomicStore(&${flagsVar}[${s}u], 1u); atomicStore(&${flagsVar}[${s + 1}u], bitcast<u32>(${v})); atomicStore(&${flagsVar}[${s + 2}u], u32(${bound}));`;
  }

  /** Submits everything encoded so far. */
  flush(): void {
    this.batch.flush();
  }

  /**
   * The bytes of `s` on the host: submits pending work with a copy into a mappable buffer and waits
   * for it. Throws the first device error or out-of-range index recorded since the last read.
   */
  async read(s: GpuStorage): Promise<ArrayBuffer> {
    this.checkAlive();
    const bytes = s.bytes;
    const dataBytes = Math.ceil(bytes / 16) * 16;
    const staging = this.readback.acquire(dataBytes + FLAG_BYTES);
    this.batch.copy(s.buffer, 0, staging, 0, bytes);
    this.batch.copy(this.flags, 0, staging, dataBytes, FLAG_BYTES);
    this.batch.flush();
    let out: ArrayBuffer;
    let flags: Uint32Array;
    try {
      await staging.mapAsync(1 /* GPUMapMode.READ */, 0, dataBytes + FLAG_BYTES);
      const mapped = staging.getMappedRange(0, dataBytes + FLAG_BYTES);
      out = mapped.slice(0, bytes);
      flags = new Uint32Array(mapped.slice(dataBytes, dataBytes + FLAG_BYTES));
      staging.unmap();
    } catch (e) {
      this.checkAlive();
      if (this.deviceError !== null) this.throwDeviceError();
      throw e;
    } finally {
      this.readback.release(staging);
    }
    if (this.deviceError !== null) this.throwDeviceError();
    for (let k = 0; k < INDEX_CHECKS.length; k++) {
      if (flags[k * SLOT_WORDS] !== 0) {
        const v = flags[k * SLOT_WORDS + 1]! | 0;
        const bound = flags[k * SLOT_WORDS + 2]!;
        this.device.queue.writeBuffer(this.flags, 0, new Uint8Array(FLAG_BYTES));
        throw new Error(`webgpu backend: ${INDEX_CHECKS[k]}: index ${v} is out of range [0, ${bound}) (reported at the next read-back; the results since are not valid)`);
      }
    }
    return out;
  }

  private throwDeviceError(): never {
    const m = this.deviceError;
    this.deviceError = null;
    throw new Error(`webgpu backend: GPU error: ${m}`);
  }

  /** Bytes of the readback staging buffers cached for reuse. */
  cachedBytes(): number {
    return this.pool.cached() + this.readback.cached();
  }

  /** Destroys cached free buffers of both pools. */
  emptyCache(): void {
    this.pool.emptyCache();
    this.readback.emptyCache();
  }
}
