/**
 * Memory of the webgpu backend: a `GpuStorage` is a view (dtype + element count) of a reference-
 * counted pooled GPU buffer. `reshape` returns a second view of the same buffer; the buffer goes
 * back to the pool when its last view is disposed, so disposing a reshape or its source never
 * breaks the other one, and `memoryInUse()` counts the bytes really held.
 */
/// <reference types="@webgpu/types" />
import type { DType, Storage } from '../kernels.js';
import type { BufferPool } from './buffer-pool.js';

/** Bytes per element of the dtypes this backend stores. */
export function bytesPer(dtype: DType): number {
  if (dtype === 'float32' || dtype === 'int32') return 4;
  throw new Error(`webgpu backend: dtype ${dtype} is not supported (float32 and int32 are)`);
}

/** A pooled buffer plus the number of live storages viewing it. */
class SharedBuffer {
  refs = 1;
  constructor(
    public buffer: GPUBuffer | null,
    private readonly pool: BufferPool,
  ) {}

  release(): void {
    if (--this.refs === 0 && this.buffer !== null) {
      this.pool.release(this.buffer);
      this.buffer = null;
    }
  }
}

/** A storage of the webgpu backend. */
export class GpuStorage implements Storage {
  readonly backend = 'webgpu';
  private shared: SharedBuffer | null;

  private constructor(
    readonly dtype: DType,
    /** Number of elements. */
    readonly size: number,
    shared: SharedBuffer,
  ) {
    this.shared = shared;
  }

  /** Wraps a buffer freshly acquired from `pool` (ownership passes to the storage). */
  static wrap(dtype: DType, size: number, buffer: GPUBuffer, pool: BufferPool): GpuStorage {
    return new GpuStorage(dtype, size, new SharedBuffer(buffer, pool));
  }

  /** Bytes of data (size × element size). */
  get bytes(): number {
    return this.size * bytesPer(this.dtype);
  }

  /** The GPU buffer; throws when the storage was disposed (use after dispose is a bug). */
  get buffer(): GPUBuffer {
    const b = this.shared?.buffer ?? null;
    if (b === null) throw new Error('webgpu backend: this storage was disposed and can no longer be used');
    return b;
  }

  /** True once `dispose` ran. */
  get isDisposed(): boolean {
    return this.shared === null;
  }

  /** A second storage on the same buffer (used by reshape). */
  share(): GpuStorage {
    const s = this.shared;
    if (s === null || s.buffer === null) throw new Error('webgpu backend: this storage was disposed and can no longer be used');
    s.refs++;
    return new GpuStorage(this.dtype, this.size, s);
  }

  /** Drops this view; the buffer returns to the pool with its last view. Harmless twice. */
  dispose(): void {
    if (this.shared !== null) {
      this.shared.release();
      this.shared = null;
    }
  }
}

/** Checks that `s` is a live storage of this backend and returns it typed. */
export function gpu(s: Storage): GpuStorage {
  if (!(s instanceof GpuStorage)) {
    throw new Error(`webgpu backend: got a storage of backend '${(s as Storage | undefined)?.backend}'`);
  }
  return s;
}
