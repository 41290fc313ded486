/**
 * Elementwise ops. Binary ops take two tensors (NumPy broadcasting; the backward sums each
 * gradient back to its operand's shape with `sumTo`) or a tensor and a number, with PyTorch's type
 * promotion (int32 + int32 stays int32 for add/sub/mul/maximum/minimum; a float operand or a
 * fractional number makes the result float). Comparisons give 1/0 in the operands' float dtype
 * (float32 for int32 operands; PyTorch gives bool) and no gradient.
 */
import type { BinaryOp, DType, Shape, Storage, UnaryOp } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import { broadcastShapes } from '../tensor/shape.js';
import { checkDType } from '../tensor/dtype.js';
import { castOp, defineOp, type BackwardContext, type IntRule, type SavedSpec } from './op.js';
import { attr, OnnxType, type OnnxLowering } from './onnx-api.js';
import { sumTo } from './shape.js';
import { installMethods } from './method.js';

/** A tensor or a plain number (a scalar operand). */
export type Operand = Tensor | number;

// ---- binary ------------------------------------------------------------------------------------

interface BinaryParams {
  op: BinaryOp;
  /** Shapes of the operands (null for a number). */
  aShape: Shape | null;
  bShape: Shape | null;
  out: Shape;
}

function binarySetup(name: string, op: BinaryOp, a: Operand, b: Operand) {
  for (const [v, which] of [
    [a, 'first'],
    [b, 'second'],
  ] as const) {
    if (!(v instanceof Tensor) && typeof v !== 'number') {
      throw new Error(`${name}: ${which} operand must be a Tensor or a number, got ${v === null ? 'null' : typeof v}`);
    }
  }
  const aShape = a instanceof Tensor ? a.shape : null;
  const bShape = b instanceof Tensor ? b.shape : null;
  if (aShape === null && bShape === null) throw new Error(`${name}: expected at least one tensor operand, got two numbers`);
  const out = aShape !== null && bShape !== null ? broadcastShapes(aShape, bShape, name) : (aShape ?? bShape)!;
  const params: BinaryParams = { op, aShape, bShape, out };
  return { inputs: [a, b], params, shape: out };
}

function binaryForward(k: Parameters<Parameters<typeof defineOp>[0]['forward']>[0], [a, b]: readonly (Storage | number | null)[], p: BinaryParams): Storage {
  if (typeof a === 'number') return k.scalar(p.op, b as Storage, p.bShape!, a, true);
  if (typeof b === 'number') return k.scalar(p.op, a as Storage, p.aShape!, b, false);
  return k.binary(p.op, a as Storage, p.aShape!, b as Storage, p.bShape!, p.out);
}

/** The gradients of a binary op summed back to each tensor operand's shape. */
function toOperands(c: BackwardContext<BinaryParams>, ga: Tensor | null, gb: Tensor | null): (Tensor | null)[] {
  const [a, b] = c.inputs;
  return [ga === null || !(a instanceof Tensor) ? null : sumTo(ga, a.shape), gb === null || !(b instanceof Tensor) ? null : sumTo(gb, b.shape)];
}

/** Batch axis of a broadcasting op's output: the first tensor operand's, moved by the rank difference. */
function broadcastAxis(g: OnnxLowering): number {
  for (const t of g.inputs) {
    if (!(t instanceof Tensor)) continue;
    const a = g.batchAxis(t);
    if (a >= 0) return a + g.output.ndim - t.ndim;
  }
  return -1;
}

function binaryOnnx(onnxOp: string) {
  return (g: OnnxLowering): [string, number] => [g.node(onnxOp, g.inputs.map((v) => g.name(v))), broadcastAxis(g)];
}

function defineBinary(
  op: BinaryOp,
  onnxOp: string,
  ints: IntRule,
  backward: ((gy: Tensor, c: BackwardContext<BinaryParams>) => (Tensor | null)[]) | undefined,
  saves?: (needs: readonly boolean[]) => SavedSpec,
): (a: Operand, b: Operand) => Tensor {
  return defineOp({
    name: op,
    kernel: 'binary',
    dtypes: 'promote',
    ints,
    setup: (a: Operand, b: Operand) => binarySetup(op, op, a, b),
    forward: (k, xs, p) => binaryForward(k, xs, p),
    backward,
    ...(saves === undefined ? {} : { saves }),
    onnx: binaryOnnx(onnxOp),
  });
}

/** a + b. @example add(x, 1); add(x, bias) */
export const add = defineBinary('add', 'Add', 'keep', (gy, c) => toOperands(c, gy, gy), () => ({ inputs: [] }));

/** a - b. */
export const sub = defineBinary('sub', 'Sub', 'keep', (gy, c) => toOperands(c, gy, c.needs[1] ? neg(gy) : null), () => ({ inputs: [] }));

/** a * b. */
export const mul = defineBinary(
  'mul',
  'Mul',
  'keep',
  (gy, c) => {
    const [a, b] = c.inputs as [Operand, Operand];
    return toOperands(c, c.needs[0] ? mul(gy, b) : null, c.needs[1] ? mul(gy, a) : null);
  },
  (needs) => ({ inputs: [...(needs[0] ? [1] : []), ...(needs[1] ? [0] : [])] }),
);

/** a / b (true division: int32 operands give float32). */
export const div = defineBinary('div', 'Div', 'float', (gy, c) => {
  const b = c.inputs[1] as Operand;
  // d(a/b)/db = -a/b^2 = -out/b
  return toOperands(c, c.needs[0] ? div(gy, b) : null, c.needs[1] ? neg(mul(gy, div(c.out, b))) : null);
});

/**
 * a ** b (elementwise power; int32 operands give float32). The exponent's gradient is
 * out * log(a) (defined for a > 0).
 * @example pow(x, 2)
 */
export const pow = defineBinary('pow', 'Pow', 'float', (gy, c) => {
  const [a, b] = c.inputs as [Operand, Operand];
  let ga: Tensor | null = null;
  if (c.needs[0]) {
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
  if (c.needs[1]) gb = typeof a === 'number' ? mul(gy, mul(c.out, Math.log(a))) : mul(gy, mul(c.out, log(a as Tensor)));
  return toOperands(c, ga, gb);
});

/** Share of the gradient of maximum/minimum that goes to `a`: 1 where a wins, 1/2 on ties. */
function winnerMask(a: Operand, b: Operand, cmp: 'gt' | 'lt'): Tensor {
  return add(cmp === 'gt' ? gt(a, b) : lt(a, b), mul(eq(a, b), 0.5));
}

/** Elementwise maximum (ties split the gradient evenly, as PyTorch). */
export const maximum = defineBinary('maximum', 'Max', 'keep', (gy, c) => {
  const ga = mul(gy, winnerMask(c.inputs[0] as Operand, c.inputs[1] as Operand, 'gt'));
  return toOperands(c, c.needs[0] ? ga : null, c.needs[1] ? sub(gy, ga) : null);
});

/** Elementwise minimum (ties split the gradient evenly, as PyTorch). */
export const minimum = defineBinary('minimum', 'Min', 'keep', (gy, c) => {
  const ga = mul(gy, winnerMask(c.inputs[0] as Operand, c.inputs[1] as Operand, 'lt'));
  return toOperands(c, c.needs[0] ? ga : null, c.needs[1] ? sub(gy, ga) : null);
});

/** A comparison: 1/0 in the float dtype of the operands (float32 for int32 ones), no gradient. */
function defineCompare(op: BinaryOp, onnxOp: string): (a: Operand, b: Operand) => Tensor {
  return defineOp({
    name: op,
    kernel: 'binary',
    dtypes: 'promote',
    ints: 'float',
    setup: (a: Operand, b: Operand) => binarySetup(op, op, a, b),
    forward: (k, xs, p) => binaryForward(k, xs, p),
    onnx: (g) => {
      const bool = g.inner(onnxOp, g.inputs.map((v) => g.name(v)));
      return [g.node('Cast', [bool], { to: attr.int(OnnxType.FLOAT) }), broadcastAxis(g)];
    },
  });
}

/** a > b as 1/0 (no gradient). */
export const gt = defineCompare('gt', 'Greater');
/** a >= b as 1/0 (no gradient). */
export const ge = defineCompare('ge', 'GreaterOrEqual');
/** a < b as 1/0 (no gradient). */
export const lt = defineCompare('lt', 'Less');
/** a <= b as 1/0 (no gradient). */
export const le = defineCompare('le', 'LessOrEqual');
/** a == b as 1/0 (no gradient). @example argmax(logits, 1).eq(y).mean() // accuracy */
export const eq = defineCompare('eq', 'Equal');

/** a != b as 1/0 (no gradient): 1 - (a == b). */
export function ne(a: Operand, b: Operand): Tensor {
  return sub(1, eq(a, b));
}

// ---- unary ------------------------------------------------------------------------------------

/** Declares a unary kernel op: y = op(x) in x's float dtype (int32 inputs compute in float32). */
function defineUnary(
  op: UnaryOp,
  onnx: string | ((g: OnnxLowering) => string),
  grad: ((gy: Tensor, x: Tensor, y: Tensor) => Tensor) | null,
): (x: Tensor) => Tensor {
  return defineOp({
    name: op,
    kernel: 'unary',
    ints: 'float',
    setup: (x: Tensor) => ({ inputs: [x], params: { shape: x.shape }, shape: x?.shape }),
    forward: (k, [x], p) => k.unary(op, x as Storage, p.shape),
    backward: grad === null ? undefined : (gy, c) => [grad(gy, c.inputs[0] as Tensor, c.out)],
    onnx: typeof onnx === 'string' ? (g) => g.node(onnx, [g.name(g.inputs[0]!)]) : onnx,
  });
}

/** -x. */
export const neg = defineUnary('neg', 'Neg', (gy) => neg(gy));
/** Square root. */
export const sqrt = defineUnary('sqrt', 'Sqrt', (gy, _x, y) => div(mul(gy, 0.5), y));
/** 1 / sqrt(x). */
// d(x^-1/2)/dx = -1/2 x^-3/2 = -1/2 y^3
export const rsqrt = defineUnary('rsqrt', (g) => g.node('Reciprocal', [g.inner('Sqrt', [g.name(g.inputs[0]!)])]), (gy, _x, y) =>
  mul(gy, mul(pow(y, 3), -0.5)),
);
/** e^x. */
export const exp = defineUnary('exp', 'Exp', (gy, _x, y) => mul(gy, y));
/** Natural logarithm. */
export const log = defineUnary('log', 'Log', (gy, x) => div(gy, x));
/** |x| (gradient sign(x), 0 at 0). */
export const abs = defineUnary('abs', 'Abs', (gy, x) => mul(gy, sign(x)));
/** Sign of x: -1, 0 or 1 (zero gradient). */
export const sign = defineUnary('sign', 'Sign', (gy) => mul(gy, 0));
/** x * x. */
export const square = defineUnary('square', (g) => g.node('Mul', [g.name(g.inputs[0]!), g.name(g.inputs[0]!)]), (gy, x) =>
  mul(gy, mul(x, 2)),
);
/** 1 / x. */
export const reciprocal = defineUnary('reciprocal', 'Reciprocal', (gy, _x, y) => neg(mul(gy, square(y))));

// ---- clamp, cast -------------------------------------------------------------------------------

/** Bounds of `clamp` (either may be omitted). */
export interface ClampOptions {
  min?: number;
  max?: number;
}

/**
 * Clamps to [min, max]; the gradient passes where min <= x <= max (as PyTorch).
 * @example clamp(x, { min: 0 })
 */
export const clamp = defineOp({
  name: 'clamp',
  kernel: 'clamp',
  ints: 'float',
  setup: (x: Tensor, opts: ClampOptions) => {
    if (opts?.min === undefined && opts?.max === undefined) throw new Error('clamp: give at least one of min and max');
    const lo = opts.min ?? -Infinity;
    const hi = opts.max ?? Infinity;
    if (Number.isNaN(lo) || Number.isNaN(hi)) throw new Error(`clamp: bounds must be numbers, got min ${lo} and max ${hi}`);
    return { inputs: [x], params: { lo, hi, shape: x?.shape }, shape: x?.shape };
  },
  forward: (k, [x], p) => k.clamp(x as Storage, p.shape, p.lo, p.hi),
  backward: (gy, c) => {
    const x = c.inputs[0] as Tensor;
    let g = gy;
    if (c.params.lo !== -Infinity) g = mul(g, ge(x, c.params.lo));
    if (c.params.hi !== Infinity) g = mul(g, le(x, c.params.hi));
    return [g];
  },
  // opset 17 Clip: min and max are optional inputs ('' skips one).
  onnx: (g, p) => {
    const ins = [g.name(g.inputs[0]!), p.lo === -Infinity ? '' : g.floats([], [p.lo]), p.hi === Infinity ? '' : g.floats([], [p.hi])];
    while (ins[ins.length - 1] === '') ins.pop();
    return g.node('Clip', ins);
  },
});

/**
 * Converts to `dtype` (float -> int32 truncates toward zero; float32 -> bfloat16 rounds to nearest
 * even). Casts between float dtypes are differentiable (the gradient is cast back).
 * @example argmax(logits, 1).eq(y).to('float32'); x.to('bfloat16')
 */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (!(x instanceof Tensor)) throw new Error(`cast: expected a Tensor, got ${x === null ? 'null' : typeof x}`);
  return castOp(x, checkDType('cast', dtype));
}

// ---- Tensor methods ---------------------------------------------------------------------------

declare module '../tensor/tensor.js' {
  interface Tensor {
    /** this + other (broadcasting). */
    add(other: Operand): Tensor;
    /** this - other. */
    sub(other: Operand): Tensor;
    /** this * other. */
    mul(other: Operand): Tensor;
    /** this / other. */
    div(other: Operand): Tensor;
    /** this ** exponent. */
    pow(exponent: Operand): Tensor;
    /** Elementwise maximum with other. */
    maximum(other: Operand): Tensor;
    /** Elementwise minimum with other. */
    minimum(other: Operand): Tensor;
    /** this > other as 1/0. */
    gt(other: Operand): Tensor;
    /** this >= other as 1/0. */
    ge(other: Operand): Tensor;
    /** this < other as 1/0. */
    lt(other: Operand): Tensor;
    /** this <= other as 1/0. */
    le(other: Operand): Tensor;
    /** this == other as 1/0. */
    eq(other: Operand): Tensor;
    /** this != other as 1/0. */
    ne(other: Operand): Tensor;
    neg(): Tensor;
    sqrt(): Tensor;
    rsqrt(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    abs(): Tensor;
    sign(): Tensor;
    square(): Tensor;
    reciprocal(): Tensor;
    /** `x.clamp({ min: 0 })` or `x.clamp(lo, hi)` (null leaves a side open). */
    clamp(minOrOpts: ClampOptions | number | null, max?: number | null): Tensor;
    /** Converts to `dtype` (PyTorch's `x.to(dtype)`). */
    to(dtype: DType): Tensor;
    /** Alias of `to`. */
    cast(dtype: DType): Tensor;
    /** Cast to float32. */
    float(): Tensor;
    /** Cast to float64 (reference backend). */
    double(): Tensor;
    /** Cast to bfloat16 (native backend). */
    bfloat16(): Tensor;
    /** Cast to int32 (truncating). */
    int(): Tensor;
  }
}

installMethods({
  add(o: Operand) {
    return add(this, o);
  },
  sub(o: Operand) {
    return sub(this, o);
  },
  mul(o: Operand) {
    return mul(this, o);
  },
  div(o: Operand) {
    return div(this, o);
  },
  pow(o: Operand) {
    return pow(this, o);
  },
  maximum(o: Operand) {
    return maximum(this, o);
  },
  minimum(o: Operand) {
    return minimum(this, o);
  },
  gt(o: Operand) {
    return gt(this, o);
  },
  ge(o: Operand) {
    return ge(this, o);
  },
  lt(o: Operand) {
    return lt(this, o);
  },
  le(o: Operand) {
    return le(this, o);
  },
  eq(o: Operand) {
    return eq(this, o);
  },
  ne(o: Operand) {
    return ne(this, o);
  },
  neg() {
    return neg(this);
  },
  sqrt() {
    return sqrt(this);
  },
  rsqrt() {
    return rsqrt(this);
  },
  exp() {
    return exp(this);
  },
  log() {
    return log(this);
  },
  abs() {
    return abs(this);
  },
  sign() {
    return sign(this);
  },
  square() {
    return square(this);
  },
  reciprocal() {
    return reciprocal(this);
  },
  clamp(minOrOpts: ClampOptions | number | null, max?: number | null) {
    if (minOrOpts !== null && typeof minOrOpts === 'object') return clamp(this, minOrOpts);
    return clamp(this, { min: minOrOpts ?? undefined, max: max ?? undefined });
  },
  to(dtype: DType) {
    return cast(this, dtype);
  },
  cast(dtype: DType) {
    return cast(this, dtype);
  },
  float() {
    return cast(this, 'float32');
  },
  double() {
    return cast(this, 'float64');
  },
  bfloat16() {
    return cast(this, 'bfloat16');
  },
  int() {
    return cast(this, 'int32');
  },
});
