/**
 * The meta backend (PyTorch's `device='meta'`): tensors with a shape and a dtype but no data.
 * Every kernel returns a data-less storage of the right dtype, so running a model on it gives the
 * output shapes, parameter counts and FLOPs of each layer without computing anything:
 * `convnet models` and `convnet summary` build and trace even VGG-19 (140M parameters) in
 * milliseconds. Reading a meta tensor back is an error.
 *
 * Each storage also knows the bytes it would hold (elements x dtype size, from the shapes every
 * kernel is given), and the backend counts the live bytes and their peak as the real backends do, so
 * a training step run on it tells how much memory the step needs without running a kernel
 * (`convnet summary`'s training-memory estimate). `metaKernelsFor(layout)` makes a meta backend that
 * also counts what a real backend adds: blocked layouts padded to a channel block, max-pool
 * workspaces.
 */
import type { DType, KernelDTypes, Kernels, Shape, Storage } from '../kernels.js';

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = { float32: 4, float64: 8, bfloat16: 2, int32: 4 };

/**
 * What a real backend stores beyond the logical elements, for the meta backend to count: the
 * native backend keeps 4-D activations of conv/pool/batch-norm chains in oneDNN's blocked layouts
 * (channels padded to a multiple of `channelBlock`), and max pooling leaves a workspace (one
 * `maxPoolWorkspaceBytes`-byte index per output element, on the padded layout) for backward.
 */
export interface MetaLayout {
  /** Channel block of the blocked 4-D layouts (8 on AVX2, 16 on AVX-512; 1: plain). */
  channelBlock: number;
  /** Bytes per output element of a max-pool workspace (0: none). */
  maxPoolWorkspaceBytes: number;
  /** Storages are counted in multiples of this many bytes (the native allocator rounds to 64). */
  alignment: number;
}

/** The plain layout: logical elements only, no workspaces, no rounding. */
export const PLAIN_LAYOUT: MetaLayout = { channelBlock: 1, maxPoolWorkspaceBytes: 0, alignment: 1 };

/** Memory the meta backend counts, in bytes. */
export interface MetaMemory {
  live: number;
  peakLive: number;
  workspace: number;
  peakWorkspace: number;
}

/** Counted bytes shared by a storage and its reshapes (freed with the last of them). */
class MetaBuffer {
  refs = 1;
  constructor(
    readonly bytes: number,
    readonly counter: MetaCounter,
    readonly workspace: boolean,
  ) {
    counter.add(bytes, workspace);
  }
  release(): void {
    if (--this.refs === 0) this.counter.add(-this.bytes, this.workspace);
  }
}

/** Live and peak bytes of one meta backend. */
class MetaCounter implements MetaMemory {
  live = 0;
  peakLive = 0;
  workspace = 0;
  peakWorkspace = 0;
  add(bytes: number, workspace: boolean): void {
    this.live += bytes;
    if (this.live > this.peakLive) this.peakLive = this.live;
    if (workspace) {
      this.workspace += bytes;
      if (this.workspace > this.peakWorkspace) this.peakWorkspace = this.workspace;
    }
  }
}

/** A storage without data (it knows the bytes it stands for). */
export class MetaStorage implements Storage {
  readonly backend = 'meta';
  private buf: MetaBuffer | null;
  /**
   * @param dtype element type
   * @param bytes bytes counted while the storage lives (0: not counted); a `MetaBuffer` to share one
   */
  constructor(
    readonly dtype: DType,
    bytes: number | MetaBuffer = 0,
    counter: MetaCounter = defaultCounter,
    workspace = false,
  ) {
    if (bytes instanceof MetaBuffer) {
      bytes.refs++;
      this.buf = bytes;
    } else {
      this.buf = new MetaBuffer(bytes, counter, workspace);
    }
  }
  /** Bytes this storage stands for (0 once disposed). */
  get bytes(): number {
    return this.buf?.bytes ?? 0;
  }
  /** A second storage on the same counted bytes (a reshape). */
  share(): MetaStorage {
    if (this.buf === null) throw new Error('meta backend: this storage was disposed and can no longer be used');
    return new MetaStorage(this.dtype, this.buf);
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

/** `shape` with the given axes set to 1 (keepdim reductions). */
function keepdim(shape: Shape, axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

const defaultCounter = new MetaCounter();

/**
 * A meta backend counting bytes under `layout`.
 * @example const k = metaKernelsFor({ channelBlock: 8, maxPoolWorkspaceBytes: 1, alignment: 64 });
 */
export function metaKernelsFor(layout: MetaLayout = PLAIN_LAYOUT, counter: MetaCounter = new MetaCounter()): Kernels & { memory: MetaMemory; resetPeak(): void } {
  const align = (b: number): number => (layout.alignment > 1 ? Math.max(layout.alignment, Math.ceil(b / layout.alignment) * layout.alignment) : b);
  /** A storage of `shape` elements of `dtype`. */
  const plain = (shape: Shape, dtype: DType): MetaStorage => new MetaStorage(dtype, align(numel(shape) * DTYPE_BYTES[dtype]), counter);
  /** A 4-D activation in the backend's blocked layout (channels padded to the block). */
  const blocked = (shape: Shape, dtype: DType): MetaStorage => {
    const cb = layout.channelBlock;
    if (shape.length !== 4 || cb <= 1) return plain(shape, dtype);
    const c = Math.ceil(shape[1]! / cb) * cb;
    return new MetaStorage(dtype, align(shape[0]! * c * shape[2]! * shape[3]! * DTYPE_BYTES[dtype]), counter);
  };
  const dt = (s: Storage | null): DType => s?.dtype ?? 'float32';
  const pooled = (shape: Shape, out: readonly number[]): number[] => [shape[0]!, shape[1]!, out[0]!, out[1]!];
  const k: Kernels & { memory: MetaMemory; resetPeak(): void } = {
    name: 'meta',
    dtypes: new Proxy({} as KernelDTypes, { get: () => ALL }),
    memory: counter,
    resetPeak(): void {
      counter.peakLive = counter.live;
      counter.peakWorkspace = counter.workspace;
    },
    fromHost: (_d, shape, dtype) => plain(shape, dtype),
    toHost: noData,
    read: async () => noData(),
    full: (shape, dtype) => plain(shape, dtype),
    dispose: (s) => (s as MetaStorage).dispose(),
    memoryInUse: () => counter.live,
    unary: (_op, x, shape) => plain(shape, dt(x)),
    binary: (_op, a, _as, _b, _bs, outShape) => plain(outShape, dt(a)),
    scalar: (_op, x, shape) => plain(shape, dt(x)),
    clamp: (x, shape) => plain(shape, dt(x)),
    reluBackward: (dy, _y, shape) => plain(shape, dt(dy)),
    sigmoidBackward: (dy, _y, shape) => plain(shape, dt(dy)),
    tanhBackward: (dy, _y, shape) => plain(shape, dt(dy)),
    cast: (_x, shape, to) => plain(shape, to),
    axpy: (a, _b, shape) => plain(shape, dt(a)),
    reduce: (_op, x, shape, axes) => plain(keepdim(shape, axes), dt(x)),
    argmax: (_x, shape, axis) => plain(keepdim(shape, [axis]), 'int32'),
    reshape: (x) => (x as MetaStorage).share(),
    permute: (x, shape) => plain(shape, dt(x)),
    slice: (x, _s, _st, outShape) => plain(outShape, dt(x)),
    pad: (dy, _s, _st, fullShape) => plain(fullShape, dt(dy)),
    cat: (xs, shapes, axis) => {
      const out = [...(shapes[0] ?? [])];
      out[axis] = shapes.reduce((a, s) => a + s[axis]!, 0);
      return (out.length === 4 ? blocked : plain)(out, dt(xs[0] ?? null));
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
    conv2d: (x, _xs, _w, _ws, _b, _p, yShape) => blocked(yShape, dt(x)),
    conv2dBackwardData: (dy, _ds, _w, _ws, xShape) => blocked(xShape, dt(dy)),
    conv2dBackwardWeights: (dy, _d, x, _xs, wShape, hasBias) => ({ dw: plain(wShape, dt(x)), db: hasBias ? plain([wShape[0]!], dt(dy)) : null }),
    maxPool2d: (x, shape, p) => {
      const y = pooled(shape, p.out);
      const wsb = layout.maxPoolWorkspaceBytes;
      const cb = Math.max(layout.channelBlock, 1);
      const ws = wsb > 0 ? new MetaStorage('int32', align(y[0]! * Math.ceil(y[1]! / cb) * cb * y[2]! * y[3]! * wsb), counter, true) : null;
      return { y: blocked(y, dt(x)), workspace: ws };
    },
    maxPool2dBackward: (dy, _x, _y, _w, shape) => blocked(shape, dt(dy)),
    avgPool2d: (x, shape, p) => blocked(pooled(shape, p.out), dt(x)),
    avgPool2dBackward: (dy, shape) => blocked(shape, dt(dy)),
    adaptiveAvgPool2d: (x, shape, out) => blocked(pooled(shape, out), dt(x)),
    adaptiveAvgPool2dBackward: (dy, shape) => blocked(shape, dt(dy)),
    batchNormTrain: (x, shape, gamma) => ({ y: blocked(shape, dt(x)), mean: plain([shape[1]!], dt(gamma)), var: plain([shape[1]!], dt(gamma)) }),
    batchNormInference: (x, shape) => blocked(shape, dt(x)),
    batchNormBackward: (dy, _x, shape, gamma) => ({
      dx: blocked(shape, dt(dy)),
      dgamma: plain([shape[1]!], dt(gamma)),
      dbeta: plain([shape[1]!], dt(gamma)),
    }),
    softmax: (x, shape) => plain(shape, dt(x)),
    softmaxBackward: (dy, _y, shape) => plain(shape, dt(dy)),
    resizeBilinear: (x, shape, out) => plain(pooled(shape, out), dt(x)),
    resizeBilinearBackward: (dy, shape) => plain(shape, dt(dy)),
    sgdStep: (_p, _g, bufs, shapes, h) => (h.momentum === 0 ? [] : bufs.map((b, i) => b ?? plain(shapes[i]!, 'float32'))),
    adamStep: () => undefined,
  };
  return k;
}

const defaultMeta = metaKernelsFor(PLAIN_LAYOUT, defaultCounter);

/** The meta kernels (plain layout): each returns data-less storages (dtype of the main operand unless stated). */
export const metaKernels: Kernels = defaultMeta;

/** Bytes the default meta backend counts (live, peak). */
export function metaMemory(): MetaMemory {
  return { live: defaultCounter.live, peakLive: defaultCounter.peakLive, workspace: defaultCounter.workspace, peakWorkspace: defaultCounter.peakWorkspace };
}

/** Sets the default meta backend's peaks to the current values. */
export function resetMetaPeakMemory(): void {
  defaultMeta.resetPeak();
}
