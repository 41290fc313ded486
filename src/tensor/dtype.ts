/**
 * Element types: their properties, PyTorch's type promotion, and host conversions (bfloat16 is
 * stored on the host as raw 16-bit patterns in a Uint16Array: the upper half of a float32).
 */
import type { DType, FloatDType, HostArray } from '../backend/kernels.js';

/** Every dtype, for validation and error messages. */
export const DTYPES: readonly DType[] = ['float32', 'float64', 'bfloat16', 'int32'];

/** True for float32, float64 and bfloat16. @example isFloat('bfloat16') // true */
export function isFloat(dtype: DType): dtype is FloatDType {
  return dtype !== 'int32';
}

/** Bytes per element. */
export function itemSize(dtype: DType): number {
  return dtype === 'float64' ? 8 : dtype === 'bfloat16' ? 2 : 4;
}

/** Throws naming `op` unless `v` is a known dtype; returns it typed. */
export function checkDType(op: string, v: unknown): DType {
  if (typeof v !== 'string' || !(DTYPES as readonly string[]).includes(v)) {
    throw new Error(`${op}: unknown dtype ${JSON.stringify(v)} (expected one of ${DTYPES.join(', ')})`);
  }
  return v as DType;
}

/** Rank of a float dtype in promotion (bfloat16 < float32 < float64). */
const FLOAT_RANK: Readonly<Record<FloatDType, number>> = { bfloat16: 0, float32: 1, float64: 2 };

/**
 * PyTorch's `torch.promote_types` over our dtypes: int32 with a float gives the float; two floats
 * give the wider one (bfloat16 with float32 gives float32).
 * @example promoteTypes('bfloat16', 'float32') // 'float32'
 */
export function promoteTypes(a: DType, b: DType): DType {
  if (a === b) return a;
  if (a === 'int32') return b;
  if (b === 'int32') return a;
  return FLOAT_RANK[a] >= FLOAT_RANK[b] ? a : b;
}

/** An operand of type promotion: a tensor's dtype and rank, or a JS number. */
export type PromotionOperand = { dtype: DType; ndim: number } | number;

/**
 * PyTorch's `torch.result_type`: tensors with dims outrank 0-d tensors, which outrank numbers, but
 * only within a category (int < float): a float operand of lower priority still makes an int result
 * float. JS numbers count as int when integral, as float otherwise (the default float is float32).
 * @example resultType([{ dtype: 'bfloat16', ndim: 2 }, 0.5]) // 'bfloat16'
 * @example resultType([{ dtype: 'int32', ndim: 1 }, 2.5]) // 'float32'
 */
export function resultType(operands: readonly PromotionOperand[]): DType {
  // Highest dtype per priority class: dimensioned tensors, 0-d tensors, numbers.
  const cls: (DType | null)[] = [null, null, null];
  for (const o of operands) {
    const [c, dt]: [number, DType] =
      typeof o === 'number' ? [2, Number.isInteger(o) ? 'int32' : 'float32'] : [o.ndim > 0 ? 0 : 1, o.dtype];
    cls[c] = cls[c] === null ? dt : promoteTypes(cls[c]!, dt);
  }
  let out: DType | null = null;
  cls.forEach((dt, c) => {
    if (dt === null) return;
    if (out === null) out = dt;
    // A lower class only matters when it is float and the result so far is int: a 0-d tensor
    // brings its own float dtype, a number the default float32.
    else if (out === 'int32' && isFloat(dt)) out = c === 1 ? dt : 'float32';
  });
  return out ?? 'float32';
}

/**
 * bfloat16 bit patterns of float32 values, rounded to nearest even (NaN stays a quiet NaN), as
 * PyTorch's `c10::BFloat16` conversion.
 * @example float32ToBfloat16(new Float32Array([1.5])) // Uint16Array [0x3fc0]
 */
export function float32ToBfloat16(src: ArrayLike<number>): Uint16Array {
  const n = src.length;
  const f = src instanceof Float32Array ? src : Float32Array.from(src);
  const u = new Uint32Array(f.buffer, f.byteOffset, n);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const bits = u[i]!;
    if ((bits & 0x7fffffff) > 0x7f800000) {
      out[i] = (bits >>> 16) | 0x40; // quiet NaN, sign kept
    } else {
      out[i] = (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
    }
  }
  return out;
}

/** float32 values of bfloat16 bit patterns (exact: every bf16 is a float32). */
export function bfloat16ToFloat32(src: Uint16Array): Float32Array {
  const n = src.length;
  const u = new Uint32Array(n);
  for (let i = 0; i < n; i++) u[i] = src[i]! << 16;
  return new Float32Array(u.buffer);
}

/**
 * Host data of `dtype` from JS numbers or a typed array: float32/float64/int32 typed arrays of
 * the dtype (int32 truncates toward zero), bfloat16 as bit patterns (rounded to nearest even).
 */
export function hostArrayOf(dtype: DType, values: ArrayLike<number>): HostArray {
  switch (dtype) {
    case 'float32':
      return values instanceof Float32Array ? new Float32Array(values) : Float32Array.from(values);
    case 'float64':
      return Float64Array.from(values);
    case 'int32': {
      const out = new Int32Array(values.length);
      for (let i = 0; i < values.length; i++) out[i] = Math.trunc(values[i]!);
      return out;
    }
    case 'bfloat16':
      return float32ToBfloat16(values);
  }
}

/** The numbers of host data of `dtype` as a plain-number typed array (bfloat16 widened to float32). */
export function hostValues(dtype: DType, data: HostArray): Float32Array | Float64Array | Int32Array {
  if (dtype === 'bfloat16') return bfloat16ToFloat32(data as Uint16Array);
  return data as Float32Array | Float64Array | Int32Array;
}
