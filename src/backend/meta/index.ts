/**
 * The meta backend (PyTorch's `device='meta'`): tensors with a shape and a dtype but no data.
 * Every kernel returns a data-less storage of the right dtype, so running a model on it gives the
 * output shapes, parameter counts and FLOPs of each layer without computing anything:
 * `convnet models` and `convnet summary` build and trace even VGG-19 (140M parameters) in
 * milliseconds. Reading a meta tensor back is an error.
 *
 * Each storage also knows the bytes it stands for (elements x dtype size, from the shapes every
 * kernel is given), and the backend counts live bytes and their peak as the real backends do, so a
 * training step run on it tells how much memory the step needs without running a kernel (the
 * training-memory estimate of `convnet summary`). `metaKernelsFor(layout)` makes a meta backend that
 * counts like a real one: oneDNN's blocked layouts (channels padded to the block), max-pool
 * workspaces, the temporaries the native kernels make to change layouts, and the native caching
 * allocator's reserved bytes (the same best-fit arena, simulated).
 */
import type { Conv2dParams, DType, KernelDTypes, Kernels, Shape, Storage } from '../kernels.js';

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = { float32: 4, float64: 8, bfloat16: 2, int32: 4 };

/** What a real backend stores beyond the logical elements, for the meta backend to count. */
export interface MetaLayout {
  /**
   * Channel block of the blocked 4-D layouts that convolutions produce and pooling, batch norm and
   * elementwise ops keep (8 on AVX2, 16 on AVX-512; 1: everything plain).
   */
  channelBlock: number;
  /** Bytes per output element (on the padded layout) of a max-pool workspace (0: none). */
  maxPoolWorkspaceBytes: number;
  /** True for a convolution that runs on plain layouts (the native backend's gemm path). */
  convPlain?: (x: Shape, w: Shape, y: Shape, p: Conv2dParams) => boolean;
  /** Bytes of scratchpad a convolution asks for (the native backend shares one buffer, grown to the largest). */
  convScratchpad?: (x: Shape, w: Shape, y: Shape, p: Conv2dParams) => number;
  /** Simulate the native caching allocator (64-byte and page rounding, reserved bytes); else plain counting. */
  nativeAllocator: boolean;
}

/** Logical elements only: no blocking, workspaces or allocator. */
export const PLAIN_LAYOUT: MetaLayout = { channelBlock: 1, maxPoolWorkspaceBytes: 0, nativeAllocator: false };

/** Memory a meta backend counts, in bytes. */
export interface MetaMemory {
  /** Bytes of live storages (allocator-rounded under `nativeAllocator`) and their peak. */
  live: number;
  peakLive: number;
  /** Live max-pool workspaces (part of `live`) and their peak. */
  workspace: number;
  peakWorkspace: number;
  /** The largest scratchpad a kernel asked for (the shared buffer's size). */
  scratchpad: number;
  /** live + the simulated allocator's free blocks (`live` without `nativeAllocator`) and the peak. */
  reserved: number;
  peakReserved: number;
}

// ---- the native allocator, simulated ----------------------------------------------------------------

const LARGE = 1 << 20;
/** Blocks from this size on come from the arena (native/src/buf.cc kArenaMin). */
const ARENA_MIN = 8 << 20;
const PAGE = 4096;

/** Bytes the native allocator hands out for a request (64-byte rounding, pages from 1 MiB). */
export function nativeBlockBytes(bytes: number): number {
  const r = Math.max(64, Math.ceil(bytes / 64) * 64);
  return r >= LARGE ? Math.ceil(r / PAGE) * PAGE : r;
}

/**
 * The policy of native/src/buf.cc: blocks under 8 MiB in per-size free lists, larger ones from one
 * arena, best fit with splitting and coalescing. Tracks the bytes it keeps free (cached).
 */
class AllocatorSim {
  cached = 0;
  private small = new Map<number, number>();
  /** Arena blocks in address order: offset, size, free. */
  private blocks: { off: number; size: number; free: boolean }[] = [];
  private top = 0;

  /** Returns a handle for `free`; updates `cached` (a cache hit takes from it). */
  alloc(n: number): number {
    if (n < ARENA_MIN) {
      const c = this.small.get(n) ?? 0;
      if (c > 0) {
        this.small.set(n, c - 1);
        this.cached -= n;
      }
      return -1;
    }
    let best = -1;
    for (let i = 0; i < this.blocks.length; i++) {
      const b = this.blocks[i]!;
      if (b.free && b.size >= n && (best < 0 || b.size < this.blocks[best]!.size)) best = i;
    }
    if (best < 0) {
      const last = this.blocks[this.blocks.length - 1];
      if (last !== undefined && last.free) {
        this.cached -= last.size;
        this.top += n - last.size;
        last.size = n;
        last.free = false;
        return last.off;
      }
      this.blocks.push({ off: this.top, size: n, free: false });
      this.top += n;
      return this.top - n;
    }
    const b = this.blocks[best]!;
    this.cached -= b.size;
    if (b.size > n) {
      this.blocks.splice(best + 1, 0, { off: b.off + n, size: b.size - n, free: true });
      this.cached += b.size - n;
      b.size = n;
    }
    b.free = false;
    return b.off;
  }

  free(n: number, handle: number): void {
    this.cached += n;
    if (n < ARENA_MIN) {
      this.small.set(n, (this.small.get(n) ?? 0) + 1);
      return;
    }
    let i = this.blocks.findIndex((b) => b.off === handle);
    const b = this.blocks[i]!;
    b.free = true;
    const next = this.blocks[i + 1];
    if (next !== undefined && next.free) {
      b.size += next.size;
      this.blocks.splice(i + 1, 1);
    }
    const prev = this.blocks[i - 1];
    if (prev !== undefined && prev.free) {
      prev.size += b.size;
      this.blocks.splice(i, 1);
      i--;
    }
  }
}

/** Live, peak and per-tag bytes of one meta backend. */
export class MetaCounter implements MetaMemory {
  live = 0;
  peakLive = 0;
  workspace = 0;
  peakWorkspace = 0;
  peakReserved = 0;
  scratchpad = 0;
  /** Storages made from now on are attributed to this tag (a layer name), or to none. */
  tag: string | null = null;
  /** Live bytes per tag. */
  readonly byTag = new Map<string, number>();
  private readonly sim: AllocatorSim | null;

  constructor(nativeAllocator: boolean) {
    this.sim = nativeAllocator ? new AllocatorSim() : null;
  }

  get reserved(): number {
    return this.live + (this.sim?.cached ?? 0);
  }

  /** Counts a new block of `bytes` (already rounded); returns the allocator handle. */
  add(bytes: number, workspace: boolean, tag: string | null): number {
    const h = this.sim?.alloc(bytes) ?? -1;
    this.live += bytes;
    if (tag !== null) this.byTag.set(tag, (this.byTag.get(tag) ?? 0) + bytes);
    if (workspace) this.workspace += bytes;
    this.peaks();
    return h;
  }

  remove(bytes: number, workspace: boolean, tag: string | null, handle: number): void {
    this.live -= bytes;
    if (tag !== null) this.byTag.set(tag, (this.byTag.get(tag) ?? 0) - bytes);
    if (workspace) this.workspace -= bytes;
    this.sim?.free(bytes, handle);
    this.peaks();
  }

  /** Peaks := current values. */
  resetPeak(): void {
    this.peakLive = this.live;
    this.peakWorkspace = this.workspace;
    this.peakReserved = this.reserved;
  }

  private peaks(): void {
    if (this.live > this.peakLive) this.peakLive = this.live;
    if (this.workspace > this.peakWorkspace) this.peakWorkspace = this.workspace;
    const r = this.reserved;
    if (r > this.peakReserved) this.peakReserved = r;
  }
}

/** Counted bytes shared by a storage and its reshapes (freed with the last of them). */
class MetaBuffer {
  refs = 1;
  private readonly tag: string | null;
  private readonly handle: number;
  constructor(
    readonly bytes: number,
    private readonly counter: MetaCounter,
    private readonly workspace = false,
  ) {
    this.tag = counter.tag;
    this.handle = counter.add(bytes, workspace, this.tag);
  }
  release(): void {
    if (--this.refs === 0) this.counter.remove(this.bytes, this.workspace, this.tag, this.handle);
  }
}

/** A storage without data: its dtype, the bytes it stands for and its channel block (1: plain). */
export class MetaStorage implements Storage {
  readonly backend = 'meta';
  private buf: MetaBuffer | null;
  constructor(
    readonly dtype: DType,
    buf: MetaBuffer,
    readonly block = 1,
  ) {
    this.buf = buf;
  }
  /** Bytes this storage stands for (0 once disposed). */
  get bytes(): number {
    return this.buf?.bytes ?? 0;
  }
  /** A second storage on the same counted bytes (a reshape). */
  share(): MetaStorage {
    const b = this.buf;
    if (b === null) throw new Error('meta backend: this storage was disposed and can no longer be used');
    b.refs++;
    return new MetaStorage(this.dtype, b, this.block);
  }
  dispose(): void {
    this.buf?.release();
    this.buf = null;
  }
}

const ALL: readonly DType[] = ['float32', 'float64', 'bfloat16', 'int32'];

function noData(): never {
  throw new Error("the 'meta' backend holds shapes only: its tensors have no data to read (use a real backend)");
}

function numel(s: Shape): number {
  let n = 1;
  for (const d of s) n *= d;
  return n;
}

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** `shape` with the given axes set to 1 (keepdim reductions). */
function keepdim(shape: Shape, axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** The meta kernels plus what they counted. */
export type MetaKernels = Kernels & {
  /** Live and peak bytes, per tag. */
  readonly counter: MetaCounter;
};

/**
 * A meta backend counting bytes as a real backend described by `layout` would hold them.
 * @example const k = metaKernelsFor({ channelBlock: 8, maxPoolWorkspaceBytes: 1, nativeAllocator: true });
 */
export function metaKernelsFor(layout: MetaLayout = PLAIN_LAYOUT): MetaKernels {
  const counter = new MetaCounter(layout.nativeAllocator);
  const cb = Math.max(1, layout.channelBlock);
  const round = (b: number): number => (layout.nativeAllocator ? nativeBlockBytes(b) : b);
  /** Bytes of `shape` elements of `dtype` in channel block `block` (4-D only). */
  const bytesOf = (shape: Shape, dtype: DType, block: number): number => {
    if (shape.length !== 4 || block <= 1) return numel(shape) * DTYPE_BYTES[dtype];
    return shape[0]! * Math.ceil(shape[1]! / block) * block * shape[2]! * shape[3]! * DTYPE_BYTES[dtype];
  };
  const make = (shape: Shape, dtype: DType, block = 1, workspace = false): MetaStorage => {
    const b = shape.length === 4 ? block : 1;
    return new MetaStorage(dtype, new MetaBuffer(round(bytesOf(shape, dtype, b)), counter, workspace), b);
  };
  const plain = (shape: Shape, dtype: DType): MetaStorage => make(shape, dtype, 1);
  const blockOf = (s: Storage | null): number => (s instanceof MetaStorage ? s.block : 1);
  /**
   * A temporary the native kernel makes while it runs (a reorder of an operand into the layout its
   * primitive wants): counted from now until `done()`, after the kernel's own output was made.
   */
  const temp = (shape: Shape, dtype: DType, block: number): { done(): void } => {
    const b = new MetaBuffer(round(bytesOf(shape, dtype, block)), counter);
    return { done: () => b.release() };
  };
  /** A reorder temporary when `s` is not in `block` (4-D). */
  const reorderTemp = (s: Storage, shape: Shape, block: number): { done(): void } =>
    shape.length === 4 && blockOf(s) !== block ? temp(shape, s.dtype, block) : { done: () => undefined };
  const dt = (s: Storage | null): DType => s?.dtype ?? 'float32';
  const pooled = (shape: Shape, out: readonly number[]): number[] => [shape[0]!, shape[1]!, out[0]!, out[1]!];
  const convBlock = (x: Shape, w: Shape, y: Shape, p: Conv2dParams): number => {
    const s = layout.convScratchpad?.(x, w, y, p) ?? 0;
    if (s > counter.scratchpad) counter.scratchpad = s;
    return cb > 1 && layout.convPlain?.(x, w, y, p) === true ? 1 : cb;
  };
  /** Runs `fn` between making the temporaries and freeing them (the kernel's output is made inside). */
  const withTemps = <T>(temps: { done(): void }[], fn: () => T): T => {
    const r = fn();
    for (const t of temps) t.done();
    return r;
  };
  const k: MetaKernels = {
    name: 'meta',
    dtypes: new Proxy({} as KernelDTypes, { get: () => ALL }),
    counter,
    fromHost: (_d, shape, dtype) => plain(shape, dtype),
    toHost: noData,
    read: async () => noData(),
    full: (shape, dtype) => plain(shape, dtype),
    dispose: (s) => (s as MetaStorage).dispose(),
    memoryInUse: () => counter.live,
    unary: (_op, x, shape) => make(shape, dt(x), blockOf(x)),
    binary: (_op, a, aShape, b, bShape, outShape) =>
      make(outShape, dt(a), sameShape(aShape, outShape) ? blockOf(a) : sameShape(bShape, outShape) ? blockOf(b) : 1),
    scalar: (_op, x, shape) => make(shape, dt(x), blockOf(x)),
    clamp: (x, shape) => make(shape, dt(x), blockOf(x)),
    reluBackward: (dy, _y, shape) => make(shape, dt(dy), blockOf(dy)),
    sigmoidBackward: (dy, _y, shape) => make(shape, dt(dy), blockOf(dy)),
    tanhBackward: (dy, _y, shape) => make(shape, dt(dy), blockOf(dy)),
    cast: (x, shape, to) => make(shape, to, blockOf(x)),
    axpy: (a, _b, shape) => make(shape, dt(a), blockOf(a)),
    reduce: (_op, x, shape, axes) => plain(keepdim(shape, axes), dt(x)),
    argmax: (_x, shape, axis) => plain(keepdim(shape, [axis]), 'int32'),
    // A blocked storage viewed with other dims is copied to plain (the native reshape does).
    reshape: (x, shape, newShape) => (blockOf(x) > 1 && !sameShape(shape, newShape) ? plain(newShape, dt(x)) : (x as MetaStorage).share()),
    permute: (x, shape, perm) => plain(perm.map((p) => shape[p]!), dt(x)),
    slice: (x, _s, _st, outShape) => plain(outShape, dt(x)),
    pad: (dy, _s, _st, fullShape) => plain(fullShape, dt(dy)),
    cat: (xs, shapes, axis) => {
      const out = [...(shapes[0] ?? [])];
      out[axis] = shapes.reduce((a, s) => a + s[axis]!, 0);
      // Channel concatenation stays blocked when every offset is a multiple of the block.
      let offset = 0;
      let aligned = out.length === 4 && axis === 1;
      for (const s of shapes) {
        if (offset % cb !== 0) aligned = false;
        offset += s[1] ?? 0;
      }
      const blocked = aligned && xs.some((x) => blockOf(x) > 1);
      return make(out, dt(xs[0] ?? null), blocked ? cb : 1);
    },
    indexSelect: (x, shape, axis, _i, n) => plain(shape.map((d, i) => (i === axis ? n : d)), dt(x)),
    indexAdd: (dy, _s, _a, _i, outShape) => plain(outShape, dt(dy)),
    gatherRows: (x, shape) => plain([shape[0]!], dt(x)),
    scatterRows: (dy, shape) => plain(shape, dt(dy)),
    matmul: (a, aShape, _b, bShape, transA, transB) => {
      const M = transA ? aShape[2]! : aShape[1]!;
      const N = transB ? bShape[1]! : bShape[2]!;
      return plain([Math.max(aShape[0]!, bShape[0]!), M, N], dt(a));
    },
    linear: (x, xShape, _w, wShape) => plain([xShape[0]!, wShape[0]!], dt(x)),
    linearBackward: (dy, x, xShape, w, wShape, hasBias, needDx) => ({
      dx: needDx ? plain(xShape, dt(x)) : null,
      dw: plain(wShape, dt(w)),
      db: hasBias ? plain([wShape[0]!], dt(w)) : null,
    }),
    conv2d: (x, xShape, w, wShape, _b, p, yShape) => {
      const blk = convBlock(xShape, wShape, yShape, p);
      return withTemps([reorderTemp(x, xShape, blk), temp(wShape, dt(w), 1)], () => make(yShape, dt(x), blk));
    },
    conv2dBackwardData: (dy, dyShape, w, wShape, xShape, p) => {
      const blk = convBlock(xShape, wShape, dyShape, p);
      return withTemps([reorderTemp(dy, dyShape, blk), temp(wShape, dt(w), 1)], () => make(xShape, dt(dy), blk));
    },
    conv2dBackwardWeights: (dy, dyShape, x, xShape, wShape, hasBias, p) => {
      const blk = convBlock(xShape, wShape, dyShape, p);
      return withTemps([reorderTemp(x, xShape, blk), reorderTemp(dy, dyShape, blk)], () => ({
        dw: plain(wShape, dt(x)),
        db: hasBias ? plain([wShape[0]!], dt(dy)) : null,
      }));
    },
    maxPool2d: (x, shape, p) => {
      const y = pooled(shape, p.out);
      const blk = blockOf(x);
      const wsb = layout.maxPoolWorkspaceBytes;
      const ws = wsb > 0 ? new MetaStorage('int32', new MetaBuffer(round((bytesOf(y, 'float32', blk) / 4) * wsb), counter, true), blk) : null;
      return { y: make(y, dt(x), blk), workspace: ws };
    },
    maxPool2dBackward: (dy, x, _y, _w, shape, p) =>
      withTemps([reorderTemp(dy, pooled(shape, p.out), blockOf(x))], () => make(shape, dt(dy), blockOf(x))),
    avgPool2d: (x, shape, p) => make(pooled(shape, p.out), dt(x), blockOf(x)),
    avgPool2dBackward: (dy, shape) => make(shape, dt(dy), blockOf(dy)),
    adaptiveAvgPool2d: (x, shape, out) => make(pooled(shape, out), dt(x), blockOf(x)),
    adaptiveAvgPool2dBackward: (dy, shape) => make(shape, dt(dy), blockOf(dy)),
    batchNormTrain: (x, shape, gamma) => ({
      y: make(shape, dt(x), blockOf(x)),
      mean: plain([shape[1]!], dt(gamma)),
      var: plain([shape[1]!], dt(gamma)),
    }),
    batchNormInference: (x, shape) => make(shape, dt(x), blockOf(x)),
    batchNormBackward: (dy, x, shape, gamma) =>
      withTemps([reorderTemp(dy, shape, blockOf(x))], () => ({
        dx: make(shape, dt(dy), blockOf(x)),
        dgamma: plain([shape[1]!], dt(gamma)),
        dbeta: plain([shape[1]!], dt(gamma)),
      })),
    softmax: (x, shape) => plain(shape, dt(x)),
    softmaxBackward: (dy, _y, shape) => plain(shape, dt(dy)),
    resizeBilinear: (x, shape, out) => plain(pooled(shape, out), dt(x)),
    resizeBilinearBackward: (dy, shape) => plain(shape, dt(dy)),
    sgdStep: (_p, _g, bufs, shapes, h) => (h.momentum === 0 ? [] : bufs.map((b, i) => b ?? plain(shapes[i]!, 'float32'))),
    adamStep: () => undefined,
  };
  return k;
}

/** The meta kernels (plain layout): each returns data-less storages (dtype of the main operand unless stated). */
export const metaKernels: Kernels = metaKernelsFor(PLAIN_LAYOUT);
