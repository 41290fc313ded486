/**
 * The backend contract (Engine II). Every backend (native oneDNN, reference TypeScript, webgpu)
 * implements every kernel listed here; the compiler enforces it. Kernels know nothing of autograd:
 * they take storages plus the logical shapes/parameters and return new storages. Ops (src/ops)
 * validate arguments, compute output shapes and bring operands to one dtype before calling a kernel,
 * so kernels may assume consistent inputs.
 *
 * Conventions
 * - Every storage knows its dtype (`Storage.dtype`). Unless a kernel says otherwise, all its storage
 *   operands have ONE dtype and its result has that dtype too. The dtypes a backend implements for
 *   each kernel are listed in `Kernels.dtypes` (keyed by kernel name, the dtype of the main operand);
 *   the op runner checks it before the call and reports "op: the 'reference' backend has no
 *   bfloat16 kernel for conv2d (it has float32, float64)" instead of calling.
 * - Host arrays: float32 -> Float32Array, float64 -> Float64Array, int32 -> Int32Array,
 *   bfloat16 -> Uint16Array holding the raw bf16 bits (the upper 16 bits of the float32 pattern).
 * - Logical layout is always row-major over the logical shape (NCHW for images, OIHW for conv
 *   weights). A backend may keep a storage in another physical layout (oneDNN blocked formats, GPU
 *   buffers) as long as `toHost`/`read` return row-major data and every kernel interprets storages
 *   logically.
 * - Every kernel returns fresh storages owned by the caller (who eventually calls `dispose`).
 *   `reshape` may return a storage that shares memory with its input; disposing either one must
 *   leave the other valid. The only kernels that write into their operands are the fused optimizer
 *   updates (`sgdStep`, `adamStep`), which update parameters and state IN PLACE.
 * - Comparison ops return 1/0 in the operands' dtype; a comparison with a NaN operand is 0 (IEEE).
 * - NaN propagates as in PyTorch (maximum/minimum, reductions), with one documented exception:
 *   the native backend's `relu` and `maxPool2d` use oneDNN primitives, which drop NaN.
 * - bfloat16 kernels accumulate in float32 (reductions, matmul/conv, batch-norm statistics) and
 *   round once to bf16 on output.
 */

/** A tensor shape: one non-negative integer per dimension. */
export type Shape = readonly number[];

/** Element types. float64 exists on the reference backend, bfloat16 on native (and webgpu: no). */
export type DType = 'float32' | 'float64' | 'bfloat16' | 'int32';

/** The floating-point dtypes. */
export type FloatDType = 'float32' | 'float64' | 'bfloat16';

/** Typed array holding a dtype's host data (bfloat16: raw bits in a Uint16Array). */
export type HostArray = Float32Array | Float64Array | Int32Array | Uint16Array;

/** An opaque, backend-owned block of tensor memory. */
export interface Storage {
  /** Which backend made it (a storage must only be given back to that backend). */
  readonly backend: string;
  /** Element type of the data. */
  readonly dtype: DType;
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
  /** Backend name, e.g. `'native'`, `'reference'`, `'webgpu'`. */
  readonly name: string;
  /** For each kernel, the dtypes (of its main operand) this backend implements. */
  readonly dtypes: KernelDTypes;

  // ---- memory ---------------------------------------------------------------------------
  /** Copies row-major host data (the host array type of `dtype`) into a new storage. */
  fromHost(data: HostArray, shape: Shape, dtype: DType): Storage;
  /**
   * Synchronous row-major host copy (reordering from a blocked layout if needed). Absent on
   * backends that can only read back asynchronously (GPUs): use `read`.
   */
  toHost?(s: Storage, shape: Shape): HostArray;
  /** Asynchronous row-major host copy (every backend). */
  read(s: Storage, shape: Shape): Promise<HostArray>;
  /** A new storage of the given shape filled with `value`. */
  full(shape: Shape, dtype: DType, value: number): Storage;
  /** Releases the storage's memory now. Disposing twice is harmless. */
  dispose(s: Storage): void;
  /** Bytes currently held by live storages of this backend (for leak tests). */
  memoryInUse(): number;

  // ---- elementwise (float dtypes) ------------------------------------------------------
  /** y = op(x), same shape. */
  unary(op: UnaryOp, x: Storage, shape: Shape): Storage;
  /** out = a op b with NumPy broadcasting of aShape and bShape to outShape (a, b one dtype; int32 allowed for add/sub/mul/maximum/minimum and comparisons). */
  binary(op: BinaryOp, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage;
  /** out = x op s (or s op x when `reverse`), s a scalar (rounded to x's dtype first). */
  scalar(op: BinaryOp, x: Storage, shape: Shape, s: number, reverse: boolean): Storage;
  /** out = min(max(x, lo), hi); lo/hi may be ±Infinity. */
  clamp(x: Storage, shape: Shape, lo: number, hi: number): Storage;
  /** Gradient of relu given the relu OUTPUT y: dx = dy where y > 0 else 0. */
  reluBackward(dy: Storage, y: Storage, shape: Shape): Storage;
  /** Gradient of sigmoid given its OUTPUT y: dx = dy * (y * (1 - y)). */
  sigmoidBackward(dy: Storage, y: Storage, shape: Shape): Storage;
  /** Gradient of tanh given its OUTPUT y: dx = dy * (1 - y * y). */
  tanhBackward(dy: Storage, y: Storage, shape: Shape): Storage;
  /** Converts x to dtype `to` (float -> int32 truncates toward zero; float32 -> bf16 rounds to nearest even). */
  cast(x: Storage, shape: Shape, to: DType): Storage;
  /** out = a + alpha * b for same-shape a, b (grad accumulation). */
  axpy(a: Storage, b: Storage, shape: Shape, alpha: number): Storage;

  // ---- reductions -----------------------------------------------------------------------
  /** Reduces over `axes` (sorted, unique); the result has keepdim shape (reduced axes of size 1). */
  reduce(op: ReduceOp, x: Storage, shape: Shape, axes: readonly number[]): Storage;
  /** int32 index of the max along `axis` (first max wins); result has keepdim shape. */
  argmax(x: Storage, shape: Shape, axis: number): Storage;

  // ---- layout (any dtype) ---------------------------------------------------------------
  /** Same data, new shape of equal size (may share memory). */
  reshape(x: Storage, shape: Shape, newShape: Shape): Storage;
  /** out[i_perm[0], ...] = x[...]; out shape is shape permuted by `perm`. */
  permute(x: Storage, shape: Shape, perm: readonly number[]): Storage;
  /** out = x[starts[d] : starts[d] + outShape[d]] along every axis d (step 1). */
  slice(x: Storage, shape: Shape, starts: readonly number[], outShape: Shape): Storage;
  /** Inverse of slice for gradients: zeros of `fullShape` with dy written at `starts`. */
  pad(dy: Storage, shape: Shape, starts: readonly number[], fullShape: Shape): Storage;
  /** Concatenation along `axis` (all parts one dtype). */
  cat(xs: readonly Storage[], shapes: readonly Shape[], axis: number): Storage;
  /** out = x.indexSelect(axis, idx): idx is int32 1-D with values in [0, shape[axis]). */
  indexSelect(x: Storage, shape: Shape, axis: number, idx: Storage, n: number): Storage;
  /** Gradient of indexSelect: zeros of `outShape` with dy rows added at idx (repeats accumulate). */
  indexAdd(dy: Storage, dyShape: Shape, axis: number, idx: Storage, outShape: Shape): Storage;
  /** out[i] = x[i, target[i]] for x [N, C], target int32 [N]; result [N]. */
  gatherRows(x: Storage, shape: Shape, target: Storage): Storage;
  /** Gradient of gatherRows: zeros [N, C] with dy[i] at (i, target[i]). */
  scatterRows(dy: Storage, shape: Shape, target: Storage): Storage;

  // ---- linear algebra -------------------------------------------------------------------
  /** Batched matrix product: a [B, M, K] (or [B, K, M] when transA), b [B, K, N] (or [B, N, K]) -> [B, M, N]; B may be 1 on either side. */
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
  maxPool2d(x: Storage, shape: Shape, p: Pool2dParams): PoolResult;
  maxPool2dBackward(dy: Storage, x: Storage, y: Storage, workspace: Storage | null, shape: Shape, p: Pool2dParams): Storage;
  avgPool2d(x: Storage, shape: Shape, p: Pool2dParams): Storage;
  avgPool2dBackward(dy: Storage, shape: Shape, p: Pool2dParams): Storage;
  adaptiveAvgPool2d(x: Storage, shape: Shape, out: [number, number]): Storage;
  adaptiveAvgPool2dBackward(dy: Storage, shape: Shape, out: [number, number]): Storage;

  // ---- normalization --------------------------------------------------------------------
  /**
   * Batch norm with batch statistics over all axes but 1. x [N, C] or [N, C, H, W]; gamma/beta [C].
   * gamma, beta and the returned mean/var are float32 when x is bfloat16 (statistics in float32),
   * else x's dtype.
   */
  batchNormTrain(x: Storage, shape: Shape, gamma: Storage, beta: Storage, eps: number): BatchNormTrainResult;
  batchNormInference(x: Storage, shape: Shape, gamma: Storage, beta: Storage, mean: Storage, variance: Storage, eps: number): Storage;
  /** dx in x's dtype; dgamma/dbeta in gamma's dtype. */
  batchNormBackward(dy: Storage, x: Storage, shape: Shape, gamma: Storage, mean: Storage, variance: Storage, eps: number): BatchNormGrads;

  // ---- softmax --------------------------------------------------------------------------
  softmax(x: Storage, shape: Shape, axis: number, log: boolean): Storage;
  softmaxBackward(dy: Storage, y: Storage, shape: Shape, axis: number, log: boolean): Storage;

  // ---- resampling -----------------------------------------------------------------------
  resizeBilinear(x: Storage, shape: Shape, out: [number, number]): Storage;
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

/** Names of the kernels (every member of `Kernels` that is a function). */
export type KernelName = Exclude<keyof Kernels, 'name' | 'dtypes'>;

/** For each kernel, the dtypes of its main operand a backend implements. */
export type KernelDTypes = Readonly<Record<KernelName, readonly DType[]>>;
