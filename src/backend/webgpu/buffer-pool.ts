/**
 * A caching allocator for GPU buffers, as PyTorch's CUDA caching allocator: a freed buffer goes into
 * a free list keyed by its size bucket and is handed out again for the next request of that bucket,
 * so a training loop that allocates the same sizes every step creates no GPU buffers after its first
 * step ("memory flat"). `emptyCache()` destroys the cached buffers.
 *
 * Reuse and ordering. Every GPU command runs on one queue in submission order, so a buffer freed by
 * JavaScript while commands that read it are still queued (or still being encoded) may be handed to
 * the next kernel at once: that kernel's writes are ordered after the earlier reads. The one
 * exception is `queue.writeBuffer` (host uploads), which takes effect when it is called, BEFORE the
 * commands of the batch still being encoded run. So each free buffer remembers whether it was freed
 * while commands were being encoded, and in which batch; uploads only take buffers that no command
 * of the batch being encoded can use (`acquire(.., true)`).
 */
/// <reference types="@webgpu/types" />

/** GPUBufferUsage flags (numeric, so no global `GPUBufferUsage` is needed in Node). */
export const Usage = {
  MAP_READ: 0x1,
  COPY_SRC: 0x4,
  COPY_DST: 0x8,
  UNIFORM: 0x40,
  STORAGE: 0x80,
} as const;

/** The smallest buffer handed out (bytes); also what a zero-size tensor gets. */
const MIN_BYTES = 256;

/**
 * The bucket of a request: sizes are rounded up to 2^k, 1.25·2^k, 1.5·2^k or 1.75·2^k (at most 25%
 * slack, while every bucket is reused by many nearby sizes), and to at least MIN_BYTES.
 */
export function bucketBytes(bytes: number): number {
  if (bytes <= MIN_BYTES) return MIN_BYTES;
  const p = 2 ** Math.floor(Math.log2(bytes));
  const quarter = p / 4;
  const b = Math.ceil(bytes / quarter) * quarter;
  return Math.ceil(b / 4) * 4;
}

interface FreeBuffer {
  buffer: GPUBuffer;
  /**
   * The batch (CommandBatch id) whose commands may still use the buffer: the batch being encoded
   * when it was freed, or the one before when nothing was being encoded (all submitted).
   */
  freedIn: number;
}

/** What the pool needs to know of the command batch. */
export interface BatchState {
  /** Id of the batch being encoded. */
  readonly id: number;
  /** True when commands have been encoded since the last submit. */
  readonly pending: boolean;
}

/** Size-bucketed pool of storage buffers of one device. */
export class BufferPool {
  private readonly free = new Map<number, FreeBuffer[]>();
  private liveBytes = 0;
  private cachedBytes = 0;
  private peaks = { live: 0, cached: 0, reserved: 0 };
  /** Buffers created so far (for tests: a steady training loop stops creating them). */
  created = 0;

  constructor(
    private readonly device: GPUDevice,
    /** The command batch of the device. */
    private readonly batch: BatchState,
    private readonly usage: number = Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST,
  ) {}

  /**
   * A buffer of at least `bytes` bytes (its real size is the bucket size). With `forUpload`, only a
   * buffer that no command of the batch being encoded can still use (see the file comment).
   */
  acquire(bytes: number, forUpload = false): GPUBuffer {
    const size = bucketBytes(bytes);
    const list = this.free.get(size);
    if (list !== undefined && list.length > 0) {
      const now = this.batch.id;
      for (let i = list.length - 1; i >= 0; i--) {
        const f = list[i]!;
        if (!forUpload || f.freedIn < now) {
          list.splice(i, 1);
          this.cachedBytes -= size;
          this.liveBytes += size;
          this.notePeaks();
          return f.buffer;
        }
      }
    }
    const buffer = this.device.createBuffer({ size, usage: this.usage });
    this.created++;
    this.liveBytes += size;
    this.notePeaks();
    return buffer;
  }

  private notePeaks(): void {
    const p = this.peaks;
    p.live = Math.max(p.live, this.liveBytes);
    p.cached = Math.max(p.cached, this.cachedBytes);
    p.reserved = Math.max(p.reserved, this.liveBytes + this.cachedBytes);
  }

  /** Returns a buffer from `acquire` to the pool. */
  release(buffer: GPUBuffer): void {
    const size = buffer.size;
    this.liveBytes -= size;
    this.cachedBytes += size;
    let list = this.free.get(size);
    if (list === undefined) this.free.set(size, (list = []));
    list.push({ buffer, freedIn: this.batch.pending ? this.batch.id : this.batch.id - 1 });
    this.notePeaks();
  }

  /** Peak bytes handed out, kept free, and both together since creation or `resetPeaks`. */
  peakStats(): { live: number; cached: number; reserved: number } {
    return { ...this.peaks };
  }

  /** Starts the peaks again from the current values. */
  resetPeaks(): void {
    this.peaks = { live: 0, cached: 0, reserved: 0 };
    this.notePeaks();
  }

  /** Bytes of buffers currently handed out. */
  inUse(): number {
    return this.liveBytes;
  }

  /** Bytes of free buffers kept for reuse. */
  cached(): number {
    return this.cachedBytes;
  }

  /** Destroys every cached free buffer (live buffers are untouched). */
  emptyCache(): void {
    for (const list of this.free.values()) for (const f of list) f.buffer.destroy();
    this.free.clear();
    this.cachedBytes = 0;
  }
}
