/**
 * Memory of the reference backend: `RefStorage` wraps a plain typed array.
 *
 * Design (reshape sharing and accounting): the typed array lives in a reference-counted
 * `SharedBuffer`. `reshape` returns a second `RefStorage` on the same buffer (no copy) and bumps the
 * count; each `RefStorage` drops its own reference on its first `dispose`, and the buffer's bytes
 * leave `memoryInUse()` only when its last storage is disposed. So `memoryInUse()` counts the bytes
 * really held, and disposing a reshape (or its source) never breaks the other one. Sharing is safe
 * because no kernel of this backend ever writes into an input storage.
 */
import type { DType, HostArray, Storage } from '../kernels.js';

/** Bytes held by live buffers of this backend, and their peak since the last reset. */
let liveBytes = 0;
let peakBytes = 0;

/** A typed array plus the number of live storages viewing it (internal to this backend). */
export class SharedBuffer {
  data: HostArray | null;
  refs = 1;
  readonly bytes: number;

  constructor(data: HostArray) {
    this.data = data;
    this.bytes = data.byteLength;
    liveBytes += this.bytes;
    if (liveBytes > peakBytes) peakBytes = liveBytes;
  }

  /** Drops one reference; the last one releases the array and its bytes. */
  release(): void {
    this.refs--;
    if (this.refs === 0) {
      liveBytes -= this.bytes;
      this.data = null;
    }
  }
}

/** The dtype a reference array holds (bfloat16 bits are never stored by this backend). */
export function dtypeOfArray(data: HostArray): RefDType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  throw new Error('reference backend: bfloat16 data is not supported (it has float32, float64, int32)');
}

/** The dtypes this backend stores. */
export type RefDType = 'float32' | 'float64' | 'int32';

/** A storage of the reference backend: row-major data in a Float32Array, Float64Array or Int32Array. */
export class RefStorage implements Storage {
  readonly backend = 'reference';
  readonly dtype: RefDType;
  private buf: SharedBuffer | null;

  /**
   * Takes ownership of `data` (callers pass freshly allocated arrays); a `SharedBuffer` argument is
   * internal, used by `share` to make a second view.
   */
  constructor(data: HostArray | SharedBuffer) {
    this.buf = data instanceof SharedBuffer ? data : new SharedBuffer(data);
    this.dtype = dtypeOfArray(this.buf.data!);
  }

  /** The row-major data; throws when the storage was disposed (use-after-dispose is a bug). */
  get data(): HostArray {
    const d = this.buf?.data ?? null;
    if (d === null) throw new Error('reference backend: this storage was disposed and can no longer be used');
    return d;
  }

  /** The data of a float storage (float32 or float64); throws for int32. */
  get floats(): FloatArray {
    const d = this.data;
    if (d instanceof Int32Array || d instanceof Uint16Array) throw new Error(`reference backend: expected a float storage, got ${this.dtype}`);
    return d;
  }

  /** The data as int32; throws if the storage holds floats. */
  get i32(): Int32Array {
    const d = this.data;
    if (!(d instanceof Int32Array)) throw new Error(`reference backend: expected an int32 storage, got ${this.dtype}`);
    return d;
  }

  /** True once `dispose` ran on this storage. */
  get isDisposed(): boolean {
    return this.buf === null;
  }

  /** A new storage viewing the same data (the buffer is freed when all its views are disposed). */
  share(): RefStorage {
    const b = this.buf;
    if (b === null || b.data === null) {
      throw new Error('reference backend: this storage was disposed and can no longer be used');
    }
    b.refs++;
    return new RefStorage(b);
  }

  /** Releases this storage's reference; later calls do nothing. */
  dispose(): void {
    if (this.buf !== null) {
      this.buf.release();
      this.buf = null;
    }
  }
}

/** Bytes currently held by live reference storages. */
export function memoryInUse(): number {
  return liveBytes;
}

/** The largest `memoryInUse()` since the last `resetPeakMemory` (or the start). */
export function peakMemory(): number {
  return peakBytes;
}

/** Sets the peak to the current bytes in use. */
export function resetPeakMemory(): void {
  peakBytes = liveBytes;
}

/** Checks that `s` belongs to this backend and returns it typed. */
export function ref(s: Storage): RefStorage {
  if (!(s instanceof RefStorage)) {
    throw new Error(`reference backend: got a storage of backend '${s?.backend}'`);
  }
  return s;
}

/** Float data of this backend: float32 or float64 values. */
export type FloatArray = Float32Array | Float64Array;

/** The float (float32 or float64) data of a reference storage. */
export function fl(s: Storage): FloatArray {
  return ref(s).floats;
}

/** The int32 data of a reference storage. */
export function i32(s: Storage): Int32Array {
  return ref(s).i32;
}

/** The data of a reference storage, whichever its dtype (for dtype-agnostic reads). */
export function anyData(s: Storage): HostArray {
  return ref(s).data;
}

/** A zero-filled array of `n` elements of `dtype` (float32, float64 or int32). */
export function alloc(dtype: DType, n: number): Float32Array | Float64Array | Int32Array {
  if (dtype === 'float32') return new Float32Array(n);
  if (dtype === 'float64') return new Float64Array(n);
  if (dtype === 'int32') return new Int32Array(n);
  throw new Error(`reference backend: dtype ${dtype} is not supported (it has float32, float64, int32)`);
}

/** A zero-filled float array of `n` elements of the float dtype of `like` (a storage or a dtype). */
export function allocFloat(like: Storage | DType, n: number): FloatArray {
  const dt = typeof like === 'string' ? like : like.dtype;
  return dt === 'float64' ? new Float64Array(n) : new Float32Array(n);
}

/** Rounds a double to the precision of `dtype` (float32: Math.fround; float64: itself). */
export function rounder(dtype: DType): (v: number) => number {
  return dtype === 'float32' ? Math.fround : (v: number) => v;
}

/** Wraps double-precision accumulators as a new storage of float dtype `dtype` (rounded once). */
export function wrapAcc(acc: Float64Array, dtype: DType): RefStorage {
  return wrap(dtype === 'float64' ? acc : Float32Array.from(acc));
}

/** Wraps a freshly computed array as a new storage. */
export function wrap(data: HostArray): RefStorage {
  return new RefStorage(data);
}
