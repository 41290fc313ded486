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

/** Bytes held by live buffers of this backend. */
let liveBytes = 0;

/** A typed array plus the number of live storages viewing it (internal to this backend). */
export class SharedBuffer {
  data: HostArray | null;
  refs = 1;
  readonly bytes: number;

  constructor(data: HostArray) {
    this.data = data;
    this.bytes = data.byteLength;
    liveBytes += this.bytes;
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

/** A storage of the reference backend: row-major data in a Float32Array or Int32Array. */
export class RefStorage implements Storage {
  readonly backend = 'reference';
  private buf: SharedBuffer | null;

  /**
   * Takes ownership of `data` (callers pass freshly allocated arrays); a `SharedBuffer` argument is
   * internal, used by `share` to make a second view.
   */
  constructor(data: HostArray | SharedBuffer) {
    this.buf = data instanceof SharedBuffer ? data : new SharedBuffer(data);
  }

  /** The row-major data; throws when the storage was disposed (use-after-dispose is a bug). */
  get data(): HostArray {
    const d = this.buf?.data ?? null;
    if (d === null) throw new Error('reference backend: this storage was disposed and can no longer be used');
    return d;
  }

  /** The data as float32; throws if the storage holds int32. */
  get f32(): Float32Array {
    const d = this.data;
    if (!(d instanceof Float32Array)) throw new Error('reference backend: expected a float32 storage, got int32');
    return d;
  }

  /** The data as int32; throws if the storage holds float32. */
  get i32(): Int32Array {
    const d = this.data;
    if (!(d instanceof Int32Array)) throw new Error('reference backend: expected an int32 storage, got float32');
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

/** Checks that `s` belongs to this backend and returns it typed. */
export function ref(s: Storage): RefStorage {
  if (!(s instanceof RefStorage)) {
    throw new Error(`reference backend: got a storage of backend '${s?.backend}'`);
  }
  return s;
}

/** The float32 data of a reference storage. */
export function f32(s: Storage): Float32Array {
  return ref(s).f32;
}

/** The int32 data of a reference storage. */
export function i32(s: Storage): Int32Array {
  return ref(s).i32;
}

/** The data of a reference storage, whichever its dtype (for dtype-agnostic reads). */
export function anyData(s: Storage): HostArray {
  return ref(s).data;
}

/** A zero-filled array of `n` elements of `dtype`. */
export function alloc(dtype: DType, n: number): HostArray {
  return dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
}

/** Wraps a freshly computed array as a new storage. */
export function wrap(data: HostArray): RefStorage {
  return new RefStorage(data);
}
