/**
 * Lowering a trace to an ONNX (opset 17) graph: the op calls that the output depends on become
 * nodes, parameters and buffers become initializers under their state-dict names, and module
 * attributes that hold tensors (the scratch BatchNorm's moving statistics) become initializers
 * under their attribute path.
 */
import { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import { isFloat } from '../tensor/dtype.js';
import { opDef, type OnnxLowering } from '../ops/index.js';
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

/** Little-endian bytes of int32 values. */
function int32Bytes(a: Int32Array): Uint8Array {
  if (littleEndian) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const out = new Uint8Array(a.length * 4);
  const dv = new DataView(out.buffer);
  a.forEach((v, i) => dv.setInt32(i * 4, v, true));
  return out;
}

/** Little-endian bytes of int64 values. */
function int64Bytes(a: readonly number[]): Uint8Array {
  const out = new Uint8Array(a.length * 8);
  const dv = new DataView(out.buffer);
  a.forEach((v, i) => dv.setBigInt64(i * 8, BigInt(v), true));
  return out;
}

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
    const [name, axis] = lowerCall(c, b, names, batchAxis, input.shape[0]!, opts.dynamicBatch, out);
    names.set(c.output, name);
    batchAxis.set(c.output, axis);
  }
  if (names.get(output) !== opts.outputName) {
    // The model returns its input or a weight.
    b.node('', 'Identity', [names.get(output)!], {}, opts.outputName);
    batchAxis.set(output, batchAxis.get(output) ?? -1);
  }

  // Every float tensor is exported as float32 (a bfloat16-trained or float64 model included).
  const initializers: TensorProto[] = [...usedConsts].map((t) => ({
    name: names.get(t)!,
    dims: [...t.shape],
    dataType: isFloat(t.dtype) ? DataType.FLOAT : DataType.INT32,
    rawData: isFloat(t.dtype) ? float32Bytes(Float32Array.from(t.toArray())) : int32Bytes(t.toArray() as Int32Array),
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
 * Emits the nodes of one call through its op's declared lowering (`batch`: the traced batch size);
 * returns the name of its output and the output's batch axis.
 */
function lowerCall(
  c: TracedCall,
  b: Builder,
  names: Map<Tensor, string>,
  batchAxis: Map<Tensor, number>,
  batch: number,
  dynamicBatch: boolean,
  out: string | undefined,
): [string, number] {
  const { op, path } = c;
  const fail = (why: string): Error => new Error(`exportOnnx: ${label(path, c.module)}: ${why}`);
  const def = opDef(op);
  if (def?.onnx === undefined) throw noMapping(path, c.module, `op '${op}' cannot be exported`);
  const first = c.inputs.find((v): v is Tensor => v instanceof Tensor);
  const g: OnnxLowering = {
    inputs: c.inputs,
    output: c.output,
    name(v) {
      if (v instanceof Tensor) return names.get(v)!;
      if (typeof v === 'number') return b.floats(path, [], [v]);
      throw fail(`${op}: missing operand`);
    },
    node: (opType, inputs, attributes = {}) => b.node(path, opType, inputs, attributes, out),
    inner: (opType, inputs, attributes = {}) => b.node(path, opType, inputs, attributes),
    floats: (dims, values) => b.floats(path, dims, values),
    int64s: (values) => b.int64s(path, values),
    batchAxis: (t) => batchAxis.get(t) ?? -1,
    dynamicBatch,
    batch,
    fail,
  };
  const r = def.onnx(g, c.attrs);
  return typeof r === 'string' ? [r, first === undefined ? -1 : (batchAxis.get(first) ?? -1)] : r;
}
