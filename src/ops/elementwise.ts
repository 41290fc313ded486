/**
 * Elementwise ops. Binary ops take two tensors (NumPy broadcasting; the backward sums each
 * gradient back to its input's shape with `sumTo`) or a tensor and a number (the `scalar` kernel).
 * Results are float32 (int32 inputs are read as numbers); comparisons give float32 1/0 and no
 * gradient.
 */
import type { BinaryOp, DType, UnaryOp } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import { broadcastShapes } from '../tensor/shape.js';
import { record, sameBackend, withFloat, wrap } from './util.js';
import { sumTo } from './shape.js';
import { traceOp, tracing } from './trace.js';

/** A tensor or a plain number (a scalar operand). */
export type Operand = Tensor | number;

type GradFn = (gy: Tensor, a: Operand, b: Operand, out: Tensor, needs: readonly boolean[]) => [Tensor | null, Tensor | null];

/** Forward of a binary op (validation, broadcasting, kernel) plus its recorded backward. */
function binaryOp(name: string, op: BinaryOp, a: Operand, b: Operand, grad: GradFn | null): Tensor {
  const ta = a instanceof Tensor ? a : null;
  const tb = b instanceof Tensor ? b : null;
  for (const [v, which] of [
    [a, 'first'],
    [b, 'second'],
  ] as const) {
    if (!(v instanceof Tensor) && typeof v !== 'number') {
      throw new Error(`${name}: ${which} operand must be a Tensor or a number, got ${v === null ? 'null' : typeof v}`);
    }
  }
  const k = sameBackend(name, ta, tb);
  let out: Tensor;
  if (ta !== null && tb !== null) {
    const shape = broadcastShapes(ta.shape, tb.shape, name);
    const s = withFloat(ta, (sa) => withFloat(tb, (sb) => k.binary(op, sa, ta.shape, sb, tb.shape, shape)));
    out = wrap(k, s, shape);
  } else if (ta !== null) {
    out = wrap(k, withFloat(ta, (s) => k.scalar(op, s, ta.shape, b as number, false)), ta.shape);
  } else {
    out = wrap(k, withFloat(tb!, (s) => k.scalar(op, s, tb!.shape, a as number, true)), tb!.shape);
  }
  if (tracing.tracer !== null) traceOp(name, [a, b], out);
  if (grad === null) return out;
  return record(name, [ta, tb], out, (gy, needs) => {
    const [ga, gb] = grad(gy, a, b, out, needs);
    return [ga === null || ta === null ? null : sumTo(ga, ta.shape), gb === null || tb === null ? null : sumTo(gb, tb.shape)];
  });
}

/** a + b. @example add(x, 1); add(x, bias) */
export function add(a: Operand, b: Operand): Tensor {
  return binaryOp('add', 'add', a, b, (gy) => [gy, gy]);
}

/** a - b. */
export function sub(a: Operand, b: Operand): Tensor {
  return binaryOp('sub', 'sub', a, b, (gy, _a, _b, _o, needs) => [gy, needs[1] ? neg(gy) : null]);
}

/** a * b. */
export function mul(a: Operand, b: Operand): Tensor {
  return binaryOp('mul', 'mul', a, b, (gy, a, b, _o, needs) => [needs[0] ? mul(gy, b) : null, needs[1] ? mul(gy, a) : null]);
}

/** a / b. */
export function div(a: Operand, b: Operand): Tensor {
  return binaryOp('div', 'div', a, b, (gy, _a, b, out, needs) => [
    needs[0] ? div(gy, b) : null,
    // d(a/b)/db = -a/b^2 = -out/b
    needs[1] ? neg(mul(gy, div(out, b))) : null,
  ]);
}

/**
 * a ** b (elementwise power). The exponent's gradient is out * log(a) (defined for a > 0).
 * @example pow(x, 2)
 */
export function pow(a: Operand, b: Operand): Tensor {
  return binaryOp('pow', 'pow', a, b, (gy, a, b, out, needs) => {
    let ga: Tensor | null = null;
    if (needs[0]) {
      // d(a^b)/da = b * a^(b-1)
      if (typeof b === 'number') {
        if (b === 0) ga = mul(gy, 0);
        else if (b === 1) ga = gy;
        else if (b === 2) ga = mul(gy, mul(a, 2));
        else ga = mul(gy, mul(pow(a, b - 1), b));
      } else {
        ga = mul(gy, mul(pow(a, sub(b, 1)), b));
      }
    }
    let gb: Tensor | null = null;
    if (needs[1]) {
      gb = typeof a === 'number' ? mul(gy, mul(out, Math.log(a))) : mul(gy, mul(out, log(a)));
    }
    return [ga, gb];
  });
}

/** Share of the gradient of maximum/minimum that goes to `a`: 1 where a wins, 1/2 on ties. */
function winnerMask(a: Operand, b: Operand, cmp: 'gt' | 'lt'): Tensor {
  return add(cmp === 'gt' ? gt(a, b) : lt(a, b), mul(eq(a, b), 0.5));
}

/** Elementwise maximum (ties split the gradient evenly, as PyTorch). */
export function maximum(a: Operand, b: Operand): Tensor {
  return binaryOp('maximum', 'maximum', a, b, (gy, a, b, _o, needs) => {
    const ga = mul(gy, winnerMask(a, b, 'gt'));
    return [needs[0] ? ga : null, needs[1] ? sub(gy, ga) : null];
  });
}

/** Elementwise minimum (ties split the gradient evenly, as PyTorch). */
export function minimum(a: Operand, b: Operand): Tensor {
  return binaryOp('minimum', 'minimum', a, b, (gy, a, b, _o, needs) => {
    const ga = mul(gy, winnerMask(a, b, 'lt'));
    return [needs[0] ? ga : null, needs[1] ? sub(gy, ga) : null];
  });
}

/** a > b as float32 1/0 (no gradient). */
export function gt(a: Operand, b: Operand): Tensor {
  return binaryOp('gt', 'gt', a, b, null);
}
/** a >= b as float32 1/0 (no gradient). */
export function ge(a: Operand, b: Operand): Tensor {
  return binaryOp('ge', 'ge', a, b, null);
}
/** a < b as float32 1/0 (no gradient). */
export function lt(a: Operand, b: Operand): Tensor {
  return binaryOp('lt', 'lt', a, b, null);
}
/** a <= b as float32 1/0 (no gradient). */
export function le(a: Operand, b: Operand): Tensor {
  return binaryOp('le', 'le', a, b, null);
}
/** a == b as float32 1/0 (no gradient). @example argmax(logits, 1).eq(y).mean() // accuracy */
export function eq(a: Operand, b: Operand): Tensor {
  return binaryOp('eq', 'eq', a, b, null);
}
/** a != b as float32 1/0 (no gradient). */
export function ne(a: Operand, b: Operand): Tensor {
  const e = eq(a, b);
  const k = e.kernels;
  const out = wrap(k, k.scalar('sub', e.storage, e.shape, 1, true), e.shape);
  e.dispose();
  return out;
}

// ---- unary ---------------------------------------------------------------------------------------

/** Forward of a unary kernel op plus its recorded backward `grad(gy, x, out)`. */
export function unaryOp(name: string, op: UnaryOp, x: Tensor, grad: ((gy: Tensor, x: Tensor, out: Tensor) => Tensor) | null): Tensor {
  const k = sameBackend(name, x);
  const out = wrap(k, withFloat(x, (s) => k.unary(op, s, x.shape)), x.shape);
  if (tracing.tracer !== null) traceOp(name, [x], out);
  if (grad === null) return out;
  return record(name, [x], out, (gy) => [grad(gy, x, out)]);
}

/** -x. */
export function neg(x: Tensor): Tensor {
  return unaryOp('neg', 'neg', x, (gy) => neg(gy));
}
/** Square root. */
export function sqrt(x: Tensor): Tensor {
  return unaryOp('sqrt', 'sqrt', x, (gy, _x, y) => div(mul(gy, 0.5), y));
}
/** 1 / sqrt(x). */
export function rsqrt(x: Tensor): Tensor {
  // d(x^-1/2)/dx = -1/2 x^-3/2 = -1/2 y^3
  return unaryOp('rsqrt', 'rsqrt', x, (gy, _x, y) => mul(gy, mul(pow(y, 3), -0.5)));
}
/** e^x. */
export function exp(x: Tensor): Tensor {
  return unaryOp('exp', 'exp', x, (gy, _x, y) => mul(gy, y));
}
/** Natural logarithm. */
export function log(x: Tensor): Tensor {
  return unaryOp('log', 'log', x, (gy, x) => div(gy, x));
}
/** |x| (gradient sign(x), 0 at 0). */
export function abs(x: Tensor): Tensor {
  return unaryOp('abs', 'abs', x, (gy, x) => mul(gy, sign(x)));
}
/** Sign of x: -1, 0 or 1 (zero gradient). */
export function sign(x: Tensor): Tensor {
  return unaryOp('sign', 'sign', x, (gy) => mul(gy, 0));
}
/** x * x. */
export function square(x: Tensor): Tensor {
  return unaryOp('square', 'square', x, (gy, x) => mul(gy, mul(x, 2)));
}
/** 1 / x. */
export function reciprocal(x: Tensor): Tensor {
  return unaryOp('reciprocal', 'reciprocal', x, (gy, _x, y) => neg(mul(gy, square(y))));
}

/** Bounds of `clamp` (either may be omitted). */
export interface ClampOptions {
  min?: number;
  max?: number;
}

/**
 * Clamps to [min, max]; the gradient passes where min <= x <= max (as PyTorch).
 * @example clamp(x, { min: 0 })
 */
export function clamp(x: Tensor, opts: ClampOptions): Tensor {
  const k = sameBackend('clamp', x);
  const lo = opts?.min ?? -Infinity;
  const hi = opts?.max ?? Infinity;
  if (opts?.min === undefined && opts?.max === undefined) throw new Error('clamp: give at least one of min and max');
  if (Number.isNaN(lo) || Number.isNaN(hi)) throw new Error(`clamp: bounds must be numbers, got min ${lo} and max ${hi}`);
  const out = wrap(k, withFloat(x, (s) => k.clamp(s, x.shape, lo, hi)), x.shape);
  return record('clamp', [x], out, (gy) => {
    let g = gy;
    if (lo !== -Infinity) g = mul(g, ge(x, lo));
    if (hi !== Infinity) g = mul(g, le(x, hi));
    return [g];
  });
}

/**
 * Converts to `dtype` (float32 -> int32 truncates toward zero). A float32 -> float32 cast is a copy
 * that keeps the gradient; casts to int32 are not differentiable.
 * @example argmax(logits, 1).eq(y).cast('float32')
 */
export function cast(x: Tensor, dtype: DType): Tensor {
  const k = sameBackend('cast', x);
  if (dtype !== 'float32' && dtype !== 'int32') throw new Error(`cast: unknown dtype '${String(dtype)}'`);
  const out = wrap(k, k.cast(x.storage, x.shape, x.dtype, dtype), x.shape, dtype);
  if (dtype !== 'float32' || x.dtype !== 'float32') return out;
  return record('cast', [x], out, (gy) => [gy]);
}
