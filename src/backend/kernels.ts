/**
 * The backend contract. Every backend (native oneDNN, reference TypeScript) implements every kernel
 * listed here; the compiler enforces it. Kernels know nothing of autograd: they take storages plus
 * the logical shapes/parameters and return new storages. Ops (src/ops) validate arguments and compute
 * output shapes before calling a kernel, so kernels may assume consistent inputs.
 *
 * Conventions
 * - Logical layout is always row-major over the logical shape (NCHW for images, OIHW for conv
 *   weights). A backend may keep a storage in another physical layout (oneDNN blocked formats) as
 *   long as `toHost` returns the row-major data and every kernel interprets storages logically.
 * - Every kernel returns fresh storages owned by the caller (who eventually calls `dispose`).
 *   `reshape` may return a storage that shares memory with its input; disposing either one must
 *   leave the other valid. The only kernels that write into their operands are the fused optimizer
 *   updates (`sgdStep`, `adamStep`), which update parameters and state IN PLACE.
 * - Comparison ops return float32 1/0; a comparison with a NaN operand is 0 (IEEE).
 * - NaN propagates as in PyTorch (maximum/minimum, reductions), with one documented exception:
 *   the native backend's `relu` and `maxPool2d` use oneDNN primitives, which drop NaN
 *   (relu(NaN) = 0, a NaN in a pooling window loses to the other values).
 */

/** A tensor shape: one non-negative integer per dimension. */
export type Shape = readonly number[];

/** Element types: float32 for values, int32 for labels and indices. */
export type DType = 'float32' | 'int32';

/** Typed array matching a dtype. */
export type HostArray = Float32Array | Int32Array;

/** An opaque, backend-owned block of tensor memory. */
export interface Storage {
  /** Which backend made it (a storage must only be given back to that backend). */
  readonly backend: string;
}

/**
 * Elementwise functions of one argument, in the order of the native addon's op codes (the addon
 * exports its list; a test checks it equals this one). `hardswish` is PyTorch's x * relu6(x + 3) / 6.
 */
export const UNARY_OPS = [
  'neg', 'exp', 'log', 'sqrt', 'rsqrt', 'abs', 'sign', 'square', 'reciprocal', 'relu', 'sigmoid', 'tanh',
  'hardswish',
] as const;
/** Elementwise functions of one argument. */
export type UnaryOp = (typeof UNARY_OPS)[number];

/** Elementwise functions of two arguments (with NumPy broadcasting). Comparisons give 1/0. */
export const BINARY_OPS = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'gt', 'ge', 'lt', 'le', 'eq'] as const;
/** Elementwise functions of two arguments (with NumPy broadcasting). Comparisons give 1/0. */
export type BinaryOp = (typeof BINARY_OPS)[number];

/** Reductions over a set of axes. */
export const REDUCE_OPS = ['sum', 'mean', 'max', 'min'] as const;
/** Reductions over a set of axes. */
export type ReduceOp = (typeof REDUCE_OPS)[number];

/** Geometry of a 2-D convolution (all pairs are [height, width]). */
export interface Conv2dParams {
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
}

/** Geometry of a 2-D pooling window (all pairs are [height, width]). */
export interface Pool2dParams {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  /** Average pooling only: count padded zeros in the divisor (PyTorch's default `true`). */
  countIncludePad: boolean;
  /** Output size [OH, OW] (computed by the op with PyTorch's floor rule). */
  out: [number, number];
}

/** Result of max pooling: the output and whatever the backend needs for backward. */
export interface PoolResult {
  y: Storage;
  /** Backend-private data for max-pool backward (argmax indices or oneDNN workspace). */
  workspace: Storage | null;
}

/** Batch-norm training forward result. `mean`/`var` are per channel, var is the biased (population) one. */
export interface BatchNormTrainResult {
  y: Storage;
  mean: Storage;
  var: Storage;
}

/** Gradients of batch normalization. */
export interface BatchNormGrads {
  dx: Storage;
  dgamma: Storage;
  dbeta: Storage;
}

/** Hyperparameters of one fused SGD update (PyTorch's torch.optim.SGD rule). */
export interface SgdHyper {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
}

/** Hyperparameters of one fused Adam/AdamW update (PyTorch's rule, amsgrad off). */
export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** AdamW: decoupled weight decay p <- p * (1 - lr * weightDecay) instead of the L2 term. */
  decoupled: boolean;
  maximize: boolean;
  /** The step number t (1 on the first update) for the bias corrections. */
  step: number;
}

/**
 * All kernels a backend provides. Shapes passed in are logical shapes; `outShape` arguments are
 * already validated by the op.
 */
export interface Kernels {
  /** Backend name, e.g. `'native'` or `'reference'`. */
  readonly name: string;

  // ---- memory ---------------------------------------------------------------------------
  /** Copies row-major host data into a new storage. */
  fromHost(data: HostArray, shape: Shape, dtype: DType): Storage;
  /** Returns a row-major host copy of the storage (reordering from a blocked layout if needed). */
  toHost(s: Storage, shape: Shape, dtype: DType): HostArray;
  /** A new storage of the given shape filled with `value`. */
  full(shape: Shape, dtype: DType, value: number): Storage;
  /** Releases the storage's memory now. Disposing twice is harmless. */
  dispose(s: Storage): void;
  /** Bytes currently held by live storages of this backend (for leak tests). */
  memoryInUse(): number;

  // ---- elementwise ----------------------------------------------------------------------
  /** y = op(x), same shape. */
  unary(op: UnaryOp, x: Storage, shape: Shape): Storage;
  /** out = a op b with NumPy broadcasting of aShape and bShape to outShape. */
  binary(op: BinaryOp, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage;
  /** out = x op s (or s op x when `reverse`), s a scalar. */
  scalar(op: BinaryOp, x: Storage, shape: Shape, s: number, reverse: boolean): Storage;
  /** out = min(max(x, lo), hi); lo/hi may be ±Infinity. */
  clamp(x: Storage, shape: Shape, lo: number, hi: number): Storage;
  /** Gradient of relu given the relu OUTPUT y: dx = dy where y > 0 else 0. */
  reluBackward(dy: Storage, y: Storage, shape: Shape): Storage;
  /** Gradient of sigmoid given its OUTPUT y: dx = dy * (y * (1 - y)) (float32; native may round an fma once). */
  sigmoidBackward(dy: Storage, y: Storage, shape: Shape): Storage;
  /** Gradient of tanh given its OUTPUT y: dx = dy * (1 - y * y) (float32; native may round an fma once). */
  tanhBackward(dy: Storage, y: Storage, shape: Shape): Storage;
  /** Converts between dtypes (float32 -> int32 truncates toward zero). */
  cast(x: Storage, shape: Shape, from: DType, to: DType): Storage;
  /** out = a + alpha * b for same-shape a, b (optimizer updates, grad accumulation). */
  axpy(a: Storage, b: Storage, shape: Shape, alpha: number): Storage;

  // ---- reductions -----------------------------------------------------------------------
  /** Reduces over `axes` (sorted, unique); the result has keepdim shape (reduced axes of size 1). */
  reduce(op: ReduceOp, x: Storage, shape: Shape, axes: readonly number[]): Storage;
  /** int32 index of the max along `axis` (first max wins); result has keepdim shape. */
  argmax(x: Storage, shape: Shape, axis: number): Storage;

  // ---- layout ---------------------------------------------------------------------------
  /** Same data, new shape of equal size (may share memory). */
  reshape(x: Storage, shape: Shape, newShape: Shape, dtype: DType): Storage;
  /** out[i_perm[0], ...] = x[...]; out shape is shape permuted by `perm`. */
  permute(x: Storage, shape: Shape, perm: readonly number[], dtype: DType): Storage;
  /** out = x[starts[d] : starts[d] + outShape[d]] along every axis d (step 1). */
  slice(x: Storage, shape: Shape, starts: readonly number[], outShape: Shape, dtype: DType): Storage;
  /** Inverse of slice for gradients: zeros of `fullShape` with dy written at `starts`. */
  pad(dy: Storage, shape: Shape, starts: readonly number[], fullShape: Shape, dtype: DType): Storage;
  /** Concatenation along `axis`. */
  cat(xs: readonly Storage[], shapes: readonly Shape[], axis: number, dtype: DType): Storage;
  /** out = x.indexSelect(axis, idx): idx is int32 1-D with values in [0, shape[axis]). */
  indexSelect(x: Storage, shape: Shape, axis: number, idx: Storage, n: number, dtype: DType): Storage;
  /** Gradient of indexSelect: zeros of `outShape` with dy rows added at idx (repeats accumulate). */
  indexAdd(dy: Storage, dyShape: Shape, axis: number, idx: Storage, outShape: Shape): Storage;
  /** out[i] = x[i, target[i]] for x [N, C], target int32 [N]; result [N]. */
  gatherRows(x: Storage, shape: Shape, target: Storage): Storage;
  /** Gradient of gatherRows: zeros [N, C] with dy[i] at (i, target[i]). */
  scatterRows(dy: Storage, shape: Shape, target: Storage): Storage;

  // ---- linear algebra -------------------------------------------------------------------
  /**
   * Batched matrix product: a [B, M, K] (or [B, K, M] when transA), b [B, K, N] (or [B, N, K] when
   * transB) -> [B, M, N]. B may be 1 on either side (broadcast).
   */
  matmul(a: Storage, aShape: Shape, b: Storage, bShape: Shape, transA: boolean, transB: boolean): Storage;
  /** y = x W^T + b: x [N, I], w [O, I], b [O] or null -> [N, O]. */
  linear(x: Storage, xShape: Shape, w: Storage, wShape: Shape, b: Storage | null): Storage;
  /** Gradients of `linear`: dx [N, I] (unless !needDx), dw [O, I], db [O] (when hasBias). */
  linearBackward(
    dy: Storage,
    x: Storage,
    xShape: Shape,
    w: Storage,
    wShape: Shape,
    hasBias: boolean,
    needDx: boolean,
  ): { dx: Storage | null; dw: Storage; db: Storage | null };

  // ---- convolution ----------------------------------------------------------------------
  /** y = conv2d(x, w) + b: x [N, C, H, W], w [O, C/groups, KH, KW], b [O] or null. */
  conv2d(x: Storage, xShape: Shape, w: Storage, wShape: Shape, b: Storage | null, p: Conv2dParams, yShape: Shape): Storage;
  /** dx for conv2d. */
  conv2dBackwardData(dy: Storage, dyShape: Shape, w: Storage, wShape: Shape, xShape: Shape, p: Conv2dParams): Storage;
  /** dw (and db when hasBias) for conv2d. */
  conv2dBackwardWeights(
    dy: Storage,
    dyShape: Shape,
    x: Storage,
    xShape: Shape,
    wShape: Shape,
    hasBias: boolean,
    p: Conv2dParams,
  ): { dw: Storage; db: Storage | null };

  // ---- pooling --------------------------------------------------------------------------
  /** Max pooling over [N, C, H, W] (padding counts as -inf). */
  maxPool2d(x: Storage, shape: Shape, p: Pool2dParams): PoolResult;
  /** dx for max pooling. */
  maxPool2dBackward(dy: Storage, x: Storage, y: Storage, workspace: Storage | null, shape: Shape, p: Pool2dParams): Storage;
  /** Average pooling over [N, C, H, W]. */
  avgPool2d(x: Storage, shape: Shape, p: Pool2dParams): Storage;
  /** dx for average pooling. */
  avgPool2dBackward(dy: Storage, shape: Shape, p: Pool2dParams): Storage;
  /** PyTorch's adaptive average pooling to [OH, OW] (bins start floor(i*H/OH), end ceil((i+1)*H/OH)). */
  adaptiveAvgPool2d(x: Storage, shape: Shape, out: [number, number]): Storage;
  /** dx for adaptive average pooling. */
  adaptiveAvgPool2dBackward(dy: Storage, shape: Shape, out: [number, number]): Storage;

  // ---- normalization --------------------------------------------------------------------
  /**
   * Batch norm with batch statistics over all axes but 1. x [N, C] or [N, C, H, W]; gamma/beta [C].
   * Returns y, the batch mean and the biased batch variance (each [C]).
   */
  batchNormTrain(x: Storage, shape: Shape, gamma: Storage, beta: Storage, eps: number): BatchNormTrainResult;
  /** Batch norm with given statistics (eval mode). */
  batchNormInference(x: Storage, shape: Shape, gamma: Storage, beta: Storage, mean: Storage, variance: Storage, eps: number): Storage;
  /** Gradients of training-mode batch norm given the saved batch mean and biased variance. */
  batchNormBackward(
    dy: Storage,
    x: Storage,
    shape: Shape,
    gamma: Storage,
    mean: Storage,
    variance: Storage,
    eps: number,
  ): BatchNormGrads;

  // ---- softmax --------------------------------------------------------------------------
  /** softmax (or logSoftmax when `log`) along `axis`. */
  softmax(x: Storage, shape: Shape, axis: number, log: boolean): Storage;
  /** Gradient of softmax/logSoftmax given its output y. */
  softmaxBackward(dy: Storage, y: Storage, shape: Shape, axis: number, log: boolean): Storage;

  // ---- resampling -----------------------------------------------------------------------
  /** Bilinear resize of [N, C, H, W] to [N, C, OH, OW], PyTorch's align_corners=false. */
  resizeBilinear(x: Storage, shape: Shape, out: [number, number]): Storage;
  /** dx for resizeBilinear. */
  resizeBilinearBackward(dy: Storage, shape: Shape, out: [number, number]): Storage;

  // ---- fused optimizer updates (IN PLACE; one call per parameter group) ----------------
  /**
   * torch.optim.SGD's update for every parameter of a group: with d = grad (negated when maximize)
   * + weightDecay·p; when momentum != 0: buf = d on the first step (`bufs[i]` is null: a new buffer
   * is returned in its place), else buf = momentum·buf + (1 - dampening)·d, and d = buf (or
   * d + momentum·buf when nesterov); p -= lr·d. Parameters, grads and buffers are float32 (one
   * shape per index). Returns the momentum buffers (the same storages, or new ones on the first
   * step; empty when momentum is 0).
   */
  sgdStep(params: readonly Storage[], grads: readonly Storage[], bufs: readonly (Storage | null)[], shapes: readonly Shape[], h: SgdHyper): Storage[];
  /**
   * torch.optim.Adam / AdamW's update (amsgrad off) for every parameter of a group, in place on
   * params, expAvg and expAvgSq (float32).
   */
  adamStep(
    params: readonly Storage[],
    grads: readonly Storage[],
    expAvg: readonly Storage[],
    expAvgSq: readonly Storage[],
    shapes: readonly Shape[],
    h: AdamHyper,
  ): void;
}
