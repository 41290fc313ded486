/**
 * Lowering a trace to an ONNX (opset 17) graph: the op calls that the output depends on become
 * nodes, parameters and buffers become initializers under their state-dict names, and module
 * attributes that hold tensors (the scratch BatchNorm's moving statistics) become initializers
 * under their attribute path.
 */
import { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import type { Module } from '../nn/module.js';
import { DataType, type AttributeValue, type Dim, type NodeProto, type TensorProto, type ValueInfoProto } from './protobuf.js';
import type { Trace, TracedCall } from './trace.js';

/** Options of `lowerTrace`. */
export interface LowerOptions {
  /** Name of the graph input. */
  inputName: string;
  /** Name of the graph output. */
  outputName: string;
  /** Make the first input dim symbolic (`'batch'`). */
  dynamicBatch: boolean;
}

/** The ONNX graph of a traced model. */
export interface OnnxGraph {
  nodes: NodeProto[];
  initializers: TensorProto[];
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
}

/** `net.3 (MyLayer)`, or `MyModel (the model)` for the root. */
function label(path: string, m: Module): string {
  return path === '' ? `${m.constructor.name} (the model)` : `${path} (${m.constructor.name})`;
}

function noMapping(path: string, m: Module, why: string): Error {
  return new Error(`exportOnnx: ${label(path, m)} has no ONNX mapping (${why})`);
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Little-endian bytes of float32 values. */
function float32Bytes(a: Float32Array): Uint8Array {
  if (littleEndian) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const out = new Uint8Array(a.length * 4);
  const dv = new DataView(out.buffer);
  a.forEach((v, i) => dv.setFloat32(i * 4, v, true));
  return out;
}

/** Little-endian bytes of int64 values. */
function int64Bytes(a: readonly number[]): Uint8Array {
  const out = new Uint8Array(a.length * 8);
  const dv = new DataView(out.buffer);
  a.forEach((v, i) => dv.setBigInt64(i * 8, BigInt(v), true));
  return out;
}

const int = (value: number): AttributeValue => ({ kind: 'int', value });
const ints = (value: readonly number[]): AttributeValue => ({ kind: 'ints', value });
const float = (value: number): AttributeValue => ({ kind: 'float', value });

/** ONNX op of each traced elementwise op. */
const UNARY: Record<string, string> = {
  relu: 'Relu',
  sigmoid: 'Sigmoid',
  tanh: 'Tanh',
  neg: 'Neg',
  sqrt: 'Sqrt',
  exp: 'Exp',
  log: 'Log',
  abs: 'Abs',
  sign: 'Sign',
  reciprocal: 'Reciprocal',
  clone: 'Identity',
};
const BINARY: Record<string, string> = { add: 'Add', sub: 'Sub', mul: 'Mul', div: 'Div', pow: 'Pow', maximum: 'Max', minimum: 'Min' };
const COMPARE: Record<string, string> = { gt: 'Greater', ge: 'GreaterOrEqual', lt: 'Less', le: 'LessOrEqual', eq: 'Equal' };
const RESHAPES = new Set(['reshape', 'view', 'flatten', 'squeeze', 'unsqueeze']);

/**
 * Names (state-dict names first, then other parameters and buffers, then tensor-valued module
 * attributes) of every tensor the model holds.
 */
function constantNames(model: Module): Map<Tensor, string> {
  const names = new Map<Tensor, string>();
  const add = (t: Tensor, n: string): void => void (names.has(t) || names.set(t, n));
  for (const [n, t] of Object.entries(model.stateDict())) add(t, n);
  for (const [n, t] of model.namedParameters()) add(t, n);
  for (const [n, t] of model.namedBuffers()) add(t, n);
  for (const [path, m] of model.namedModules()) {
    for (const [key, v] of Object.entries(m)) if (v instanceof Tensor) add(v, path === '' ? key : `${path}.${key}`);
  }
  return names;
}

/** Builds the node list with unique node and value names. */
class Builder {
  readonly nodes: NodeProto[] = [];
  #count = 0;
  readonly #used: Set<string>;

  constructor(reserved: Iterable<string>) {
    this.#used = new Set(reserved);
  }

  #unique(base: string): string {
    let n = base;
    for (let i = 1; this.#used.has(n); i++) n = `${base}_${i}`;
    this.#used.add(n);
    return n;
  }

  /** Adds a node; returns its output's name (`out` if given, else derived from the node name). */
  node(path: string, opType: string, inputs: readonly string[], attributes: Record<string, AttributeValue> = {}, out?: string): string {
    const name = this.#unique(`${path === '' ? '' : `${path}/`}${opType}_${this.#count++}`);
    const output = out ?? this.#unique(`${name}_output`);
    this.nodes.push({ name, opType, inputs, outputs: [output], attributes });
    return output;
  }

  /** A Constant node holding float32 `values` of shape `dims`. */
  floats(path: string, dims: readonly number[], values: readonly number[]): string {
    const value: TensorProto = { name: '', dims, dataType: DataType.FLOAT, rawData: float32Bytes(Float32Array.from(values)) };
    return this.node(path, 'Constant', [], { value: { kind: 'tensor', value } });
  }

  /** A Constant node holding an int64 vector. */
  int64s(path: string, values: readonly number[]): string {
    const value: TensorProto = { name: '', dims: [values.length], dataType: DataType.INT64, rawData: int64Bytes(values) };
    return this.node(path, 'Constant', [], { value: { kind: 'tensor', value } });
  }
}

/**
 * Turns `trace` into an ONNX graph. Throws naming the module (path and class) when the output
 * depends on an op that has no ONNX mapping or on a tensor computed by an op that is not traced.
 */
export function lowerTrace(model: Module, trace: Trace, opts: LowerOptions): OnnxGraph {
  const { calls, input, output } = trace;
  const producer = new Map<Tensor, TracedCall>();
  // Outer ops are reported after the ops they call; the last report of a tensor wins.
  for (const c of calls) producer.set(c.output, c);
  const constNames = constantNames(model);

  // Walk back from the output: which calls and constants it needs.
  const needed = new Set<TracedCall>();
  const usedConsts = new Set<Tensor>();
  const seen = new Set<Tensor>([input]);
  const todo: [Tensor, TracedCall | null][] = [[output, null]];
  while (todo.length > 0) {
    const [t, consumer] = todo.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    if (constNames.has(t)) {
      usedConsts.add(t);
      continue;
    }
    const c = producer.get(t);
    if (c === undefined) throw untraced(t, consumer);
    needed.add(c);
    for (const v of c.inputs) if (v instanceof Tensor) todo.push([v, c]);
  }

  /** The innermost module that returned `t`, or the consumer's module. */
  function untraced(t: Tensor, consumer: TracedCall | null): Error {
    const m = trace.moduleCalls.find((mc) => mc.output === t);
    const why = `its forward computes a ${fmt(t.shape)} tensor with an op the exporter does not trace`;
    if (m !== undefined) return noMapping(m.path, m.module, why);
    if (consumer !== null) return noMapping(consumer.path, consumer.module, `it uses a ${fmt(t.shape)} tensor that is neither computed by a traced op nor a parameter, buffer or attribute`);
    return noMapping('', model, why);
  }

  const names = new Map<Tensor, string>([[input, opts.inputName]]);
  for (const t of usedConsts) {
    const n = constNames.get(t)!;
    if (t.dtype !== 'float32') throw new Error(`exportOnnx: ${n} is a ${t.dtype} tensor; only float32 weights can be exported`);
    if (n === opts.inputName || n === opts.outputName) throw new Error(`exportOnnx: the weight '${n}' has the name of the graph input or output; choose another inputName / outputName`);
    names.set(t, n);
  }
  const b = new Builder([opts.inputName, opts.outputName, ...names.values()]);
  // Axis of each value that is the (symbolic) batch dim, -1 if none.
  const batchAxis = new Map<Tensor, number>([[input, opts.dynamicBatch ? 0 : -1]]);
  for (const t of usedConsts) batchAxis.set(t, -1);

  for (const c of calls) {
    if (!needed.has(c)) continue;
    const out = c.output === output ? opts.outputName : undefined;
    const [name, axis] = lowerCall(c, b, names, batchAxis, input.shape[0]!, out);
    names.set(c.output, name);
    batchAxis.set(c.output, axis);
  }
  if (names.get(output) !== opts.outputName) {
    // The model returns its input or a weight.
    b.node('', 'Identity', [names.get(output)!], {}, opts.outputName);
    batchAxis.set(output, batchAxis.get(output) ?? -1);
  }

  const initializers: TensorProto[] = [...usedConsts].map((t) => ({
    name: names.get(t)!,
    dims: [...t.shape],
    dataType: DataType.FLOAT,
    rawData: float32Bytes(t.toArray() as Float32Array),
  }));
  const dimsOf = (shape: readonly number[], axis: number): Dim[] => shape.map((d, i) => (i === axis && opts.dynamicBatch ? 'batch' : d));
  return {
    nodes: b.nodes,
    initializers,
    inputs: [{ name: opts.inputName, dims: dimsOf(input.shape, 0) }],
    outputs: [{ name: opts.outputName, dims: dimsOf(output.shape, batchAxis.get(output)!) }],
  };
}

/**
 * Emits the nodes of one call (`batch`: the traced batch size); returns the name of its output and
 * the output's batch axis.
 */
function lowerCall(
  c: TracedCall,
  b: Builder,
  names: Map<Tensor, string>,
  batchAxis: Map<Tensor, number>,
  batch: number,
  out: string | undefined,
): [string, number] {
  const { op, path, attrs } = c;
  const fail = (why: string): Error => new Error(`exportOnnx: ${label(path, c.module)}: ${why}`);
  const tensors = c.inputs.filter((v): v is Tensor => v instanceof Tensor);
  for (const t of [...tensors, c.output]) {
    if (t.dtype !== 'float32') throw fail(`${op} on an ${t.dtype} tensor cannot be exported (only float32)`);
  }
  const name = (v: Tensor | number | null): string => {
    if (v instanceof Tensor) return names.get(v)!;
    if (typeof v === 'number') return b.floats(path, [], [v]);
    throw fail(`${op}: missing operand`);
  };
  const x = tensors[0];
  const axisIn = x === undefined ? -1 : batchAxis.get(x)!;
  const node = (opType: string, inputs: readonly string[], attributes: Record<string, AttributeValue> = {}): string =>
    b.node(path, opType, inputs, attributes, out);
  const need4d = (): void => {
    if (x!.ndim !== 4) throw fail(`${op} on a ${x!.ndim}-D input ${fmt(x!.shape)} cannot be exported (give a batched [N, C, H, W] inputShape)`);
  };
  const pair = (k: string): [number, number] => attrs[k] as [number, number];

  if (Object.hasOwn(UNARY, op)) return [node(UNARY[op]!, [name(x!)]), axisIn];
  if (Object.hasOwn(BINARY, op) || Object.hasOwn(COMPARE, op)) {
    // Broadcasting aligns trailing dims: the batch axis moves by the rank difference.
    let axis = -1;
    for (const t of tensors) {
      const a = batchAxis.get(t)!;
      if (a >= 0) {
        axis = a + c.shape.length - t.ndim;
        break;
      }
    }
    const ins = c.inputs.map(name);
    if (Object.hasOwn(BINARY, op)) return [node(BINARY[op]!, ins), axis];
    const bool = b.node(path, COMPARE[op]!, ins);
    return [node('Cast', [bool], { to: int(DataType.FLOAT) }), axis];
  }
  switch (op) {
    case 'rsqrt':
      return [node('Reciprocal', [b.node(path, 'Sqrt', [name(x!)])]), axisIn];
    case 'square':
      return [node('Mul', [name(x!), name(x!)]), axisIn];
    case 'softmax':
    case 'logSoftmax':
      return [node(op === 'softmax' ? 'Softmax' : 'LogSoftmax', [name(x!)], { axis: int(attrs.axis as number) }), axisIn];
    case 'conv2d': {
      need4d();
      const [w, bias] = [c.inputs[1] as Tensor, c.inputs[2] as Tensor | null];
      const [p, s, d] = [pair('padding'), pair('stride'), pair('dilation')];
      const ins = [name(x!), name(w)];
      if (bias !== null) ins.push(name(bias));
      const a = {
        kernel_shape: ints(w.shape.slice(2)),
        strides: ints(s),
        pads: ints([p[0], p[1], p[0], p[1]]),
        dilations: ints(d),
        group: int(attrs.groups as number),
      };
      return [node('Conv', ins, a), axisIn];
    }
    case 'maxPool2d':
    case 'avgPool2d': {
      need4d();
      const p = pair('padding');
      const a: Record<string, AttributeValue> = { kernel_shape: ints(pair('kernel')), strides: ints(pair('stride')), pads: ints([p[0], p[1], p[0], p[1]]) };
      if (op === 'avgPool2d') a.count_include_pad = int(attrs.countIncludePad ? 1 : 0);
      return [node(op === 'maxPool2d' ? 'MaxPool' : 'AveragePool', [name(x!)], a), axisIn];
    }
    case 'adaptiveAvgPool2d': {
      need4d();
      const [H, W] = [x!.shape[2]!, x!.shape[3]!];
      const [OH, OW] = pair('outputSize');
      if (OH === 1 && OW === 1) return [node('GlobalAveragePool', [name(x!)]), axisIn];
      if (H % OH !== 0 || W % OW !== 0) {
        throw fail(`adaptiveAvgPool2d from ${H}x${W} to ${OH}x${OW} has uneven bins and cannot be exported as AveragePool (use an input size divisible by the output size)`);
      }
      const k = [H / OH, W / OW];
      return [node('AveragePool', [name(x!)], { kernel_shape: ints(k), strides: ints(k) }), axisIn];
    }
    case 'batchNorm': {
      if (attrs.training) {
        throw fail('batch normalization with batch statistics (training mode or trackRunningStats: false) cannot be exported');
      }
      const [, mean, variance, weight, bias] = c.inputs as (Tensor | null)[];
      const C = x!.shape[1]!;
      const scale = weight ? name(weight) : b.floats(path, [C], new Array<number>(C).fill(1));
      const shift = bias ? name(bias) : b.floats(path, [C], new Array<number>(C).fill(0));
      return [node('BatchNormalization', [name(x!), scale, shift, name(mean!), name(variance!)], { epsilon: float(attrs.eps as number) }), axisIn];
    }
    case 'linear': {
      const [w, bias] = [c.inputs[1] as Tensor, c.inputs[2] as Tensor | null];
      if (x!.ndim === 2) {
        const ins = [name(x!), name(w)];
        if (bias !== null) ins.push(name(bias));
        return [node('Gemm', ins, { transB: int(1) }), axisIn];
      }
      const wT = b.node(path, 'Transpose', [name(w)], { perm: ints([1, 0]) });
      if (bias === null) return [node('MatMul', [name(x!), wT]), axisIn];
      return [node('Add', [b.node(path, 'MatMul', [name(x!), wT]), name(bias)]), axisIn];
    }
    case 'matmul':
      return [node('MatMul', [name(x!), name(tensors[1]!)]), axisIn];
    case 'permute': {
      const perm = attrs.perm as number[];
      return [node('Transpose', [name(x!)], { perm: ints(perm) }), perm.indexOf(axisIn)];
    }
    case 'cat': {
      const axis = attrs.axis as number;
      return [node('Concat', tensors.map(name), { axis: int(axis) }), axisIn === axis ? -1 : axisIn];
    }
    case 'mean':
    case 'sum': {
      const axes = attrs.axes as number[];
      const keepdims = int(attrs.keepdim ? 1 : 0);
      const axis = axes.includes(axisIn) ? -1 : attrs.keepdim ? axisIn : axisIn - axes.filter((a) => a < axisIn).length;
      if (axes.length === 0) return [node('Identity', [name(x!)]), axisIn];
      if (op === 'mean') return [node('ReduceMean', [name(x!)], { axes: ints(axes), keepdims }), axis];
      return [node('ReduceSum', [name(x!), b.int64s(path, axes)], { keepdims }), axis];
    }
    case 'dropout':
      throw fail('dropout in training mode cannot be exported (the model is exported in eval mode; pass training: this.training)');
  }
  if (RESHAPES.has(op)) {
    const to = attrs.shape as number[];
    if (axisIn < 0) return [node('Reshape', [name(x!), b.int64s(path, to)]), -1];
    if (axisIn > 0) {
      throw fail(`${op} of ${fmt(x!.shape)} whose batch dim is dim ${axisIn} cannot be exported with dynamicBatch (pass dynamicBatch: false)`);
    }
    // A symbolic batch stays in dim 0 (copied, or inferred when dims are folded into or out of it,
    // as Linear does for 3-D inputs); the other dims are taken as fixed.
    const n = x!.shape[0]!;
    if (to.length === 0 || to[0]! % batch !== 0) {
      throw fail(`${op} from ${fmt(x!.shape)} to ${fmt(to)} moves the batch dim and cannot be exported with dynamicBatch (pass dynamicBatch: false)`);
    }
    if (to.length === 2 && to[0] === n && x!.ndim >= 2) return [node('Flatten', [name(x!)], { axis: int(1) }), 0];
    return [node('Reshape', [name(x!), b.int64s(path, [to[0] === n ? 0 : -1, ...to.slice(1)])]), 0];
  }
  throw noMapping(path, c.module, `op '${op}' cannot be exported`);
}
