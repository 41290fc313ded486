/**
 * Creating tensors: from JS data (`tensor`), constants (`zeros`, `ones`, `full`), ranges
 * (`arange`) and seeded random numbers (`rand`, `randn`). Tensors are created on the current
 * backend (see `setBackend`).
 */
import type { DType, HostArray, Kernels, Shape } from '../backend/kernels.js';
import { getBackend } from '../backend/index.js';
import { Tensor } from './tensor.js';
import { checkShape, fmt, numel } from './shape.js';
import { defaultGenerator, type Generator } from './random.js';
import { checkDType, hostArrayOf, isFloat } from './dtype.js';

/** Options shared by the creation functions. */
export interface CreateOptions {
  /** Element type (default float32). */
  dtype?: DType;
  /** Track gradients for this leaf tensor. */
  requiresGrad?: boolean;
}

/** Options of the random creation functions. */
export interface RandomOptions extends CreateOptions {
  /** Generator to draw from (default: the global one seeded by `manualSeed`). */
  generator?: Generator;
}

/** Nested arrays of numbers, as accepted by `tensor`. */
export type NestedArray = number | readonly NestedArray[];

function inferShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let d: NestedArray = data;
  while (Array.isArray(d)) {
    shape.push(d.length);
    d = (d as readonly NestedArray[])[0] ?? 0;
  }
  return shape;
}

function flatten(data: NestedArray, shape: number[], out: number[], depth: number): void {
  if (depth === shape.length) {
    if (typeof data !== 'number') throw new Error('tensor: ragged nested array (expected a number)');
    out.push(data);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[depth]) {
    throw new Error(`tensor: ragged nested array at depth ${depth} (expected length ${shape[depth]})`);
  }
  for (const x of data as readonly NestedArray[]) flatten(x, shape, out, depth + 1);
}

function finish(t: Tensor, opts: CreateOptions | undefined): Tensor {
  if (opts?.requiresGrad) t.requiresGrad = true;
  return t;
}

/**
 * A tensor from nested arrays or a flat typed array with an explicit shape.
 * @example tensor([[1, 2], [3, 4]]) // float32 [2, 2]
 * @example tensor(new Float32Array(6), { shape: [2, 3] })
 */
export function tensor(
  data: NestedArray | Float32Array | Float64Array | Int32Array | readonly number[],
  opts?: CreateOptions & { shape?: Shape },
): Tensor {
  const dtype: DType =
    opts?.dtype === undefined
      ? data instanceof Int32Array
        ? 'int32'
        : data instanceof Float64Array
          ? 'float64'
          : 'float32'
      : checkDType('tensor', opts.dtype);
  let flat: HostArray;
  let shape: number[];
  if (data instanceof Float32Array || data instanceof Int32Array || data instanceof Float64Array) {
    shape = opts?.shape ? checkShape(opts.shape, 'tensor') : [data.length];
    if (numel(shape) !== data.length) {
      throw new Error(`tensor: ${data.length} values do not fill shape ${fmt(shape)}`);
    }
    flat = hostArrayOf(dtype, data);
  } else {
    shape = inferShape(data as NestedArray);
    const out: number[] = [];
    flatten(data as NestedArray, shape, out, 0);
    if (opts?.shape) {
      const s = checkShape(opts.shape, 'tensor');
      if (numel(s) !== out.length) throw new Error(`tensor: ${out.length} values do not fill shape ${fmt(s)}`);
      shape = s;
    }
    flat = hostArrayOf(dtype, out);
  }
  return fromOwnedHost(flat, shape, dtype, opts);
}

/** The current backend, after checking that it stores `dtype` (one line naming both otherwise). */
function backendFor(op: string, dtype: DType): Kernels {
  const k = getBackend();
  if (!k.dtypes.fromHost.includes(dtype)) {
    throw new Error(`${op}: the '${k.name}' backend has no ${dtype} tensors (it has ${k.dtypes.fromHost.join(', ')})`);
  }
  return k;
}

/** A tensor of a host array nobody else holds (no defensive copy: large copies page-fault). */
function fromOwnedHost(flat: HostArray, shape: number[], dtype: DType, opts?: CreateOptions, op = 'tensor'): Tensor {
  const k = backendFor(op, dtype);
  return finish(new Tensor(k.fromHost(flat, shape, dtype), shape, dtype, k), opts);
}

/**
 * A tensor filled with `value`.
 * @example full([2, 3], 7)
 */
export function full(shape: Shape, value: number, opts?: CreateOptions): Tensor {
  const s = checkShape(shape, 'full');
  const dtype = checkDType('full', opts?.dtype ?? 'float32');
  const k = backendFor('full', dtype);
  return finish(new Tensor(k.full(s, dtype, value), s, dtype, k), opts);
}

/** A tensor of zeros. @example zeros([1, 6, 1, 1]) */
export function zeros(shape: Shape, opts?: CreateOptions): Tensor {
  return full(shape, 0, opts);
}

/** A tensor of ones. @example ones([1, 6, 1, 1]) */
export function ones(shape: Shape, opts?: CreateOptions): Tensor {
  return full(shape, 1, opts);
}

/** Zeros with the shape (and dtype) of `t`. */
export function zerosLike(t: Tensor, opts?: CreateOptions): Tensor {
  return full(t.shape, 0, { dtype: t.dtype, ...opts });
}

/** Ones with the shape (and dtype) of `t`. */
export function onesLike(t: Tensor, opts?: CreateOptions): Tensor {
  return full(t.shape, 1, { dtype: t.dtype, ...opts });
}

/**
 * Values from `start` (inclusive) to `end` (exclusive) by `step`, like `torch.arange`.
 * @example arange(5) // [0, 1, 2, 3, 4]
 * @example arange(1, 2, 0.25)
 */
export function arange(start: number, end?: number, step = 1, opts?: CreateOptions): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (step === 0) throw new Error('arange: step must be nonzero');
  const n = Math.max(0, Math.ceil((end - start) / step));
  const dtype = checkDType('arange', opts?.dtype ?? 'float32');
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = start + i * step;
  return fromOwnedHost(hostArrayOf(dtype, data), [n], dtype, opts);
}

/** The float dtype of a random tensor (default float32). */
function randomDType(op: string, opts: RandomOptions | undefined): DType {
  const dtype = checkDType(op, opts?.dtype ?? 'float32');
  if (!isFloat(dtype)) throw new Error(`${op}: dtype must be a floating-point type, got ${dtype} (use randint for integers)`);
  return dtype;
}

/**
 * Uniform random numbers in [0, 1) (drawn in float32, then converted to the dtype).
 * @example rand([2, 3], { generator: new Generator(1) })
 */
export function rand(shape: Shape, opts?: RandomOptions): Tensor {
  const s = checkShape(shape, 'rand');
  const dtype = randomDType('rand', opts);
  const g = opts?.generator ?? defaultGenerator;
  const data = new Float32Array(numel(s));
  g.fillUniform(data);
  return fromOwnedHost(dtype === 'float32' ? data : hostArrayOf(dtype, data), s, dtype, { requiresGrad: opts?.requiresGrad });
}

/** Standard normal random numbers. @example randn([4, 3, 8, 8]); randn([3], { dtype: 'float64' }) */
export function randn(shape: Shape, opts?: RandomOptions): Tensor {
  const s = checkShape(shape, 'randn');
  const dtype = randomDType('randn', opts);
  const g = opts?.generator ?? defaultGenerator;
  const data = dtype === 'float64' ? new Float64Array(numel(s)) : new Float32Array(numel(s));
  for (let i = 0; i < data.length; i++) data[i] = g.normal();
  return fromOwnedHost(dtype === 'bfloat16' ? hostArrayOf(dtype, data) : data, s, dtype, { requiresGrad: opts?.requiresGrad });
}

/** Uniform random integers in [low, high) as int32. */
export function randint(low: number, high: number, shape: Shape, opts?: RandomOptions): Tensor {
  const s = checkShape(shape, 'randint');
  const g = opts?.generator ?? defaultGenerator;
  const data = new Int32Array(numel(s));
  for (let i = 0; i < data.length; i++) data[i] = low + g.randint(high - low);
  return fromOwnedHost(data, s, 'int32');
}
