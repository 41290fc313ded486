/**
 * One definition per op, one runner for all of them. An op is declared once with `defineOp`: its
 * validation and shape rule (`setup`), the kernel call (`forward`), its gradient (`backward`,
 * written with ops), its ONNX lowering and its FLOP count, next to each other. The runner does the
 * rest identically for every op: backend and dtype checks (PyTorch's type promotion, autocast),
 * wrapping kernel results into tensors, freeing temporaries, reporting the call to an installed
 * tracer (ONNX export, FLOP counts), and recording the backward into the autograd graph in a memory
 * scope.
 *
 * Ops made of other ops (`silu = x * sigmoid(x)`, `variance`, `narrow`) are plain functions: they
 * need no kernel, gradient, lowering or FLOP rule of their own.
 */
import type { DType, KernelName, Kernels, Shape, Storage } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import { tidy, type Disposable } from '../tensor/scope.js';
import { isFloat, resultType } from '../tensor/dtype.js';
import { needsGrad, record } from '../autograd/record.js';
import { isGradEnabled } from '../autograd/grad-mode.js';
import { autocastState } from '../autograd/autocast.js';
import { traceOp, tracing } from './trace.js';
import { attr, OnnxType, type OnnxLower } from './onnx-api.js';

/** An operand: a tensor, a JS number (a scalar operand) or null (an absent optional tensor). */
export type OpInput = Tensor | number | null;

/**
 * How an op treats dtypes. `promote`: PyTorch's type promotion over the tensor operands and numbers
 * (binary ops). `same`: its float tensor operands must share one dtype (conv2d: input and weight).
 * `any`: each operand is used as it is (layout ops: any dtype).
 */
export type DTypeRule = 'promote' | 'same' | 'any';

/**
 * What an op does with int32 operands: `keep` computes in int32 (add, sub, mul, layout ops), `float`
 * computes in float32 (exp, div, comparisons), `error` refuses them (conv2d, losses).
 */
export type IntRule = 'keep' | 'float' | 'error';

/** Autocast category (PyTorch's CPU autocast lists). */
export type AutocastRule = 'lower' | 'float32' | 'none';

/** The result of an op's validation and shape rule. */
export interface OpSetup<P> {
  /** Operands in order (tensors, numbers, null). */
  inputs: readonly OpInput[];
  /** What forward/backward/lowering/FLOPs need besides the operands (attributes, derived shapes). */
  params: P;
  /** Output shape. */
  shape: Shape;
  /** Output dtype (default: the dtype the op computes in). */
  dtype?: DType;
  /** Indices of operands left out of the dtype rules (int32 indices and targets). */
  fixed?: readonly number[];
}

/** What `forward` gets besides its operands. */
export interface ForwardContext {
  /** The dtype the op computes in (after promotion and autocast). */
  readonly dtype: DType;
  /** Registers a temporary storage, freed when forward returns; returns it. */
  tmp(s: Storage): Storage;
}

/** A forward that also leaves storages for backward (workspaces, batch statistics). */
export interface ForwardResult {
  y: Storage;
  /** Freed with the graph node (or at once when nothing is recorded). */
  saved: Storage[];
}

/** What `backward` gets. */
export interface BackwardContext<P> {
  /** The operands forward used (after dtype casts). */
  readonly inputs: readonly OpInput[];
  /** The op's output. */
  readonly out: Tensor;
  readonly params: P;
  /** Which operands need a gradient. */
  readonly needs: readonly boolean[];
  /** The storages forward saved. */
  readonly saved: readonly Storage[];
  /** A new tensor on gy's backend owning `s` (dtype: gy's unless given). */
  wrap(s: Storage, shape: Shape, dtype?: DType): Tensor;
}

/** What an op's backward reads (see `OpDef.saves`). */
export interface SavedSpec {
  /** Indices of the operands whose data backward reads. */
  inputs: readonly number[];
  /** Whether backward reads the output's data. */
  output?: boolean;
}

/** The declaration of an op. */
export interface OpDef<A extends unknown[], P> {
  /** Name used in errors, traces and ONNX export (`'conv2d'`). */
  readonly name: string;
  /** The kernel whose dtypes are checked before forward (the op's main kernel). */
  readonly kernel?: KernelName;
  /** Dtype rule (default `same`). */
  readonly dtypes?: DTypeRule;
  /** What int32 operands do (default `error`). */
  readonly ints?: IntRule;
  /** Autocast category (default `none`: runs in its inputs' dtype). */
  readonly autocast?: AutocastRule;
  /** Validation and shape rule: from the user's arguments to operands, attributes and shape. */
  setup(...args: A): OpSetup<P>;
  /** The kernel call(s), on the operands' storages (numbers and null passed through). */
  forward(k: Kernels, xs: readonly (Storage | number | null)[], p: P, c: ForwardContext): Storage | ForwardResult;
  /** Gradients of the operands (null where not needed or not differentiable). Absent: no gradient. */
  backward?(gy: Tensor, c: BackwardContext<P>): (Tensor | null)[];
  /**
   * Whose DATA `backward` reads, given which operands need a gradient (PyTorch's
   * `save_for_backward`): operand indices, and the output. Only these are kept in memory for
   * backward once their owner releases them (shapes and dtypes of the others stay readable).
   * Absent: every tensor operand and the output.
   * @example saves: (needs) => ({ inputs: needs[1] ? [0] : [], output: false }) // conv2d: x for dw
   */
  saves?(needs: readonly boolean[], p: P): SavedSpec;
  /** ONNX lowering (absent: the op cannot be exported). */
  onnx?: OnnxLower<P>;
  /** Forward FLOPs of one call (a multiply-add counts 2; absent: 0). */
  flops?(p: P, inputs: readonly OpInput[], out: Tensor): number;
}

/** A declared op, as the registry keeps it (for the exporter and FLOP counts). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyOpDef = OpDef<any[], any>;

const registry = new Map<string, AnyOpDef>();

/** The declaration of the op named `name`, or undefined. */
export function opDef(name: string): AnyOpDef | undefined {
  return registry.get(name);
}

/** Forward FLOPs of a traced call, by its op's declaration (0 for ops that declare none). */
export function opFlops(c: { op: string; inputs: readonly OpInput[]; output: Tensor; attrs: unknown }): number {
  const f = registry.get(c.op)?.flops;
  return f === undefined ? 0 : f(c.attrs, c.inputs, c.output);
}

/** Names of every declared op. */
export function opNames(): string[] {
  return [...registry.keys()];
}

/**
 * Declares an op and returns the function users call.
 * @example
 * export const exp = defineOp({
 *   name: 'exp', kernel: 'unary', ints: 'float',
 *   setup: (x: Tensor) => ({ inputs: [x], params: null, shape: x.shape }),
 *   forward: (k, [x]) => k.unary('exp', x as Storage, ...),
 *   backward: (gy, c) => [mul(gy, c.out)],
 *   onnx: (g) => g.node('Exp', [g.name(g.inputs[0]!)]),
 * });
 */
export function defineOp<A extends unknown[], P>(def: OpDef<A, P>): (...args: A) => Tensor {
  if (registry.has(def.name)) throw new Error(`defineOp: an op named '${def.name}' is already declared`);
  registry.set(def.name, def as AnyOpDef);
  return (...args: A) => runOp(def, def.setup(...args));
}

/** Describes an unexpected operand for errors. */
function describe(v: unknown): string {
  if (v instanceof Tensor) return `a ${v.dtype} tensor of shape ${fmt(v.shape)}`;
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  return v === null ? 'null' : typeof v;
}

/** Runs a declared op on the result of its setup (exported for ops that choose their setup). */
export function runOp<P>(def: OpDef<unknown[], P> | OpDef<never[], P> | AnyOpDef, s: OpSetup<P>): Tensor {
  const name = def.name;
  const inputs = s.inputs;
  // ---- backend: every tensor operand on one backend ---------------------------------------
  let k: Kernels | null = null;
  for (let i = 0; i < inputs.length; i++) {
    const v = inputs[i];
    if (v === null || typeof v === 'number') continue;
    if (!(v instanceof Tensor)) throw new Error(`${name}: operand ${i} must be a Tensor, got ${describe(v)}`);
    if (k === null) k = v.kernels;
    else if (v.kernels !== k) throw new Error(`${name}: tensors live on different backends ('${k.name}' and '${v.kernels.name}')`);
  }
  if (k === null) throw new Error(`${name}: expected at least one tensor operand`);

  // ---- dtype: promotion, int rule, autocast ------------------------------------------------
  const compute = computeDType(def, s);
  const used = castInputs(def, s, compute);
  const kernel = def.kernel;
  if (kernel !== undefined && !k.dtypes[kernel].includes(compute)) {
    throw new Error(
      `${name}: the '${k.name}' backend has no ${compute} kernel for ${kernel} (it has ${k.dtypes[kernel].join(', ') || 'none'})`,
    );
  }

  // ---- forward --------------------------------------------------------------------------
  const temps: Storage[] = [];
  const kk = k;
  const ctx: ForwardContext = {
    dtype: compute,
    tmp(st: Storage): Storage {
      temps.push(st);
      return st;
    },
  };
  const storages = used.map((v) => (v instanceof Tensor ? v.storage : v));
  let r: Storage | ForwardResult;
  try {
    r = def.forward(k, storages, s.params, ctx);
  } finally {
    for (const t of temps) kk.dispose(t);
  }
  const y = 'saved' in r ? r.y : r;
  const saved = 'saved' in r ? r.saved : [];
  const out = new Tensor(y, s.shape, s.dtype ?? compute, k);
  if (tracing.tracer !== null) traceOp(name, used, out, s.params as Record<string, unknown>);

  // ---- autograd -------------------------------------------------------------------------
  const owned: Disposable[] = saved.map((st) => storageDisposable(kk, st));
  const backward = def.backward;
  const tensors = used.map((v) => (v instanceof Tensor ? v : null));
  if (backward === undefined || !isGradEnabled() || !needsGrad(tensors)) {
    for (const o of owned) o.dispose();
    return out;
  }
  let keepData: Tensor[] | undefined;
  if (def.saves !== undefined) {
    const spec = def.saves(tensors.map((t) => t !== null && t.requiresGrad), s.params);
    keepData = [];
    for (const i of spec.inputs) {
      const t = tensors[i];
      if (t !== null && t !== undefined) keepData.push(t);
    }
    if (spec.output === true) keepData.push(out);
  }
  return record(
    name,
    tensors,
    out,
    (gy, needs) =>
      tidy(() => {
        const bctx: BackwardContext<P> = {
          inputs: used,
          out,
          params: s.params,
          needs,
          saved,
          wrap: (st, shape, dtype) => new Tensor(st, shape, dtype ?? gy.dtype, gy.kernels),
        };
        const gs = backward(gy, bctx);
        const seen = new Set<Tensor>();
        // Unneeded gradients made here are freed by the scope; no tensor is returned twice
        // (the autograd engine takes ownership of each returned gradient).
        return gs.map((g, i) => {
          if (g === null || g === undefined || !needs[i]) return null;
          if (seen.has(g)) return copyOf(g);
          seen.add(g);
          return g;
        });
      }),
    owned,
    keepData,
  );
}

/** A storage as a disposable (graph nodes free saved storages with the node). */
function storageDisposable(k: Kernels, s: Storage): Disposable {
  let done = false;
  return {
    dispose(): void {
      if (!done) k.dispose(s);
      done = true;
    },
    get isDisposed(): boolean {
      return done;
    },
  };
}

/** A copy of `g` in fresh memory (unrecorded). */
function copyOf(g: Tensor): Tensor {
  const k = g.kernels;
  const z = g.shape.map(() => 0);
  return new Tensor(k.slice(g.storage, g.shape, z, g.shape), g.shape, g.dtype, k);
}

/** The dtype an op computes in, by its rules, the operands and the autocast state. */
function computeDType(def: AnyOpDef | OpDef<never[], unknown> | OpDef<unknown[], unknown>, s: OpSetup<unknown>): DType {
  const rule = def.dtypes ?? 'same';
  const fixed = s.fixed;
  let dt: DType | null = null;
  if (rule === 'promote') {
    const ops: ({ dtype: DType; ndim: number } | number)[] = [];
    s.inputs.forEach((v, i) => {
      if (v !== null && !fixed?.includes(i)) ops.push(v);
    });
    dt = resultType(ops);
  } else {
    for (let i = 0; i < s.inputs.length; i++) {
      const v = s.inputs[i];
      if (!(v instanceof Tensor) || fixed?.includes(i)) continue;
      if (dt === null) dt = v.dtype;
      else if (rule === 'same' && v.dtype !== dt) {
        // Under autocast the operands are cast to one dtype anyway.
        if (autocastState.dtype !== null && def.autocast === 'lower' && isFloat(v.dtype) && isFloat(dt)) continue;
        throw new Error(
          `${def.name}: operands have different dtypes (${dt} and ${v.dtype} for operand ${i}); cast one with .to('${dt}')`,
        );
      }
    }
    dt ??= 'float32';
  }
  if (dt === 'int32') {
    const ints = def.ints ?? 'error';
    if (ints === 'error') {
      const bad = s.inputs.find((v, i) => v instanceof Tensor && v.dtype === 'int32' && !fixed?.includes(i)) as Tensor;
      throw new Error(`${def.name}: expected a floating-point tensor, got int32 of shape ${fmt(bad?.shape ?? [])}`);
    }
    if (ints === 'float') dt = 'float32';
    return dt;
  }
  const ac = autocastState.dtype;
  if (ac !== null) {
    if (def.autocast === 'lower') return ac;
    if (def.autocast === 'float32' && dt === ac) return 'float32';
  }
  return dt;
}

/** The operands with every float/int tensor that takes part in the dtype rules cast to `dt`. */
function castInputs(def: { dtypes?: DTypeRule; name: string }, s: OpSetup<unknown>, dt: DType): readonly OpInput[] {
  if ((def.dtypes ?? 'same') === 'any') return s.inputs;
  let out: OpInput[] | null = null;
  s.inputs.forEach((v, i) => {
    if (!(v instanceof Tensor) || v.dtype === dt || s.fixed?.includes(i)) return;
    out ??= [...s.inputs];
    out[i] = castFor(v, dt);
  });
  return out ?? s.inputs;
}

/**
 * `x` cast to `dt` through the recorded `cast` op (so gradients flow back in x's dtype). Inside an
 * autocast region, leaf tensors (parameters) are cast once and the cast is reused.
 */
function castFor(x: Tensor, dt: DType): Tensor {
  const cache = autocastState.dtype !== null && x.isLeaf ? autocastState.cache : null;
  if (cache !== null) {
    const hit = cache.get(x) as Tensor | undefined;
    if (hit !== undefined && hit.dtype === dt && !hit.isDisposed) return hit;
  }
  const c = castOp(x, dt);
  if (cache !== null) cache.set(x, c);
  return c;
}

/** The differentiable cast, declared here because the runner itself needs it. */
export const castOp: (x: Tensor, dtype: DType) => Tensor = defineOp({
  name: 'cast',
  kernel: 'cast',
  dtypes: 'any',
  ints: 'keep',
  setup: (x: Tensor, dtype: DType) => ({ inputs: [x], params: { dtype, from: x.dtype, shape: x.shape }, shape: x.shape, dtype }),
  forward: (k, [x], p) => {
    const s = x as Storage;
    // Same dtype: a copy, so that the result never aliases its input.
    return p.from === p.dtype ? k.slice(s, p.shape, p.shape.map(() => 0), p.shape) : k.cast(s, p.shape, p.dtype);
  },
  backward: (gy, c) => [isFloat(c.params.from) && isFloat(gy.dtype) ? castOp(gy, c.params.from) : null],
  saves: () => ({ inputs: [] }),
  // Everything is exported in float32: float-to-float casts (a bfloat16 model) vanish.
  onnx: (g, p) => {
    const x = g.name(g.inputs[0]!);
    if (isFloat(p.dtype)) return isFloat(p.from) ? g.node('Identity', [x]) : g.node('Cast', [x], { to: attr.int(OnnxType.FLOAT) });
    return g.node('Cast', [x], { to: attr.int(OnnxType.INT32) });
  },
});
