/**
 * A minimal protobuf encoder for the ONNX messages the exporter writes (ModelProto, GraphProto,
 * NodeProto, AttributeProto, TensorProto, ValueInfoProto, OperatorSetIdProto), with the field
 * numbers of onnx/onnx.proto (proto2: repeated scalars unpacked). Only encoding; fields are written
 * in whatever order is convenient, which protobuf readers accept. Large payloads (raw_data) are not
 * copied until `finish()`.
 */

/** Wire types of the protobuf encoding. */
const VARINT = 0;
const FIXED32 = 5;
const LEN = 2;

const utf8 = new TextEncoder();

/**
 * Appends protobuf fields to a list of byte chunks; nested messages are written into their own
 * `Writer` and embedded with `message()` (the chunks are shared, not copied).
 */
export class Writer {
  #chunks: Uint8Array[] = [];
  #length = 0;
  #scratch: number[] = [];

  #push(b: Uint8Array): void {
    if (b.length === 0) return;
    this.#chunks.push(b);
    this.#length += b.length;
  }

  #flushScratch(): void {
    if (this.#scratch.length === 0) return;
    this.#push(Uint8Array.from(this.#scratch));
    this.#scratch = [];
  }

  /** Appends a raw varint (non-negative integers up to 2^53, negatives as 64-bit two's complement). */
  #varint(v: number): void {
    if (!Number.isInteger(v)) throw new Error(`protobuf: varint must be an integer, got ${v}`);
    if (v < 0) {
      // int64 fields encode negatives as their 64-bit two's complement (ten bytes).
      let u = BigInt.asUintN(64, BigInt(v));
      while (u >= 0x80n) {
        this.#scratch.push(Number(u & 0x7fn) | 0x80);
        u >>= 7n;
      }
      this.#scratch.push(Number(u));
      return;
    }
    if (v > Number.MAX_SAFE_INTEGER) throw new Error(`protobuf: varint ${v} is not a safe integer`);
    while (v >= 0x80) {
      this.#scratch.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.#scratch.push(v);
  }

  #tag(field: number, wire: number): void {
    this.#varint(field * 8 + wire);
  }

  /** An int32/int64/enum field. */
  int(field: number, v: number): this {
    this.#tag(field, VARINT);
    this.#varint(v);
    return this;
  }

  /** A float field (fixed32, little-endian). */
  float(field: number, v: number): this {
    this.#tag(field, FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.#scratch.push(...b);
    return this;
  }

  /** A bytes field. */
  bytes(field: number, b: Uint8Array): this {
    this.#tag(field, LEN);
    this.#varint(b.length);
    this.#flushScratch();
    this.#push(b);
    return this;
  }

  /** A string field (UTF-8). */
  string(field: number, s: string): this {
    return this.bytes(field, utf8.encode(s));
  }

  /** An embedded message field. */
  message(field: number, m: Writer): this {
    m.#flushScratch();
    this.#tag(field, LEN);
    this.#varint(m.#length);
    this.#flushScratch();
    for (const c of m.#chunks) this.#push(c);
    return this;
  }

  /** The encoded bytes. */
  finish(): Uint8Array {
    this.#flushScratch();
    const out = new Uint8Array(this.#length);
    let off = 0;
    for (const c of this.#chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

// ---- ONNX messages ------------------------------------------------------------------------------

/** TensorProto.DataType values the exporter uses. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7 } as const;

/** A constant tensor (TensorProto): float32, int32 or int64 data stored as little-endian raw_data. */
export interface TensorProto {
  name: string;
  dims: readonly number[];
  dataType: (typeof DataType)[keyof typeof DataType];
  /** Little-endian element bytes. */
  rawData: Uint8Array;
}

/** An attribute value: int, float, ints, floats, string or tensor (the type is inferred). */
export type AttributeValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'floats'; value: readonly number[] }
  | { kind: 'string'; value: string }
  | { kind: 'tensor'; value: TensorProto };

/** A node (NodeProto) of the default ONNX domain. */
export interface NodeProto {
  name: string;
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes: Readonly<Record<string, AttributeValue>>;
}

/** One dimension of a graph input/output: a size, or a symbolic name (`'batch'`). */
export type Dim = number | string;

/** A graph input or output (ValueInfoProto with a float32 tensor type). */
export interface ValueInfoProto {
  name: string;
  dims: readonly Dim[];
}

/** The model (ModelProto with one GraphProto). */
export interface ModelProto {
  irVersion: number;
  opsetVersion: number;
  producerName: string;
  producerVersion?: string;
  docString?: string;
  graphName: string;
  nodes: readonly NodeProto[];
  initializers: readonly TensorProto[];
  inputs: readonly ValueInfoProto[];
  outputs: readonly ValueInfoProto[];
}

const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

function tensorProto(t: TensorProto): Writer {
  const w = new Writer();
  for (const d of t.dims) w.int(1, d); // dims
  w.int(2, t.dataType); // data_type
  if (t.name !== '') w.string(8, t.name); // name
  w.bytes(9, t.rawData); // raw_data
  return w;
}

function attributeProto(name: string, a: AttributeValue): Writer {
  const w = new Writer().string(1, name); // name
  switch (a.kind) {
    case 'int':
      w.int(20, AttributeType.INT).int(3, a.value); // type, i
      break;
    case 'float':
      w.int(20, AttributeType.FLOAT).float(2, a.value); // type, f
      break;
    case 'ints':
      w.int(20, AttributeType.INTS);
      for (const v of a.value) w.int(8, v); // ints
      break;
    case 'floats':
      w.int(20, AttributeType.FLOATS);
      for (const v of a.value) w.float(7, v); // floats
      break;
    case 'string':
      w.int(20, AttributeType.STRING).string(4, a.value); // s
      break;
    case 'tensor':
      w.int(20, AttributeType.TENSOR).message(5, tensorProto(a.value)); // t
      break;
  }
  return w;
}

function nodeProto(n: NodeProto): Writer {
  const w = new Writer();
  for (const i of n.inputs) w.string(1, i); // input
  for (const o of n.outputs) w.string(2, o); // output
  w.string(3, n.name).string(4, n.opType); // name, op_type
  for (const [k, v] of Object.entries(n.attributes)) w.message(5, attributeProto(k, v)); // attribute
  return w;
}

function valueInfoProto(v: ValueInfoProto): Writer {
  const shape = new Writer();
  for (const d of v.dims) {
    const dim = new Writer();
    if (typeof d === 'number') dim.int(1, d); // dim_value
    else dim.string(2, d); // dim_param
    shape.message(1, dim); // TensorShapeProto.dim
  }
  const tensorType = new Writer().int(1, DataType.FLOAT).message(2, shape); // elem_type, shape
  const type = new Writer().message(1, tensorType); // TypeProto.tensor_type
  return new Writer().string(1, v.name).message(2, type); // name, type
}

/** Serializes `m` as an ONNX ModelProto. */
export function encodeModel(m: ModelProto): Uint8Array {
  const g = new Writer();
  for (const n of m.nodes) g.message(1, nodeProto(n)); // node
  g.string(2, m.graphName); // name
  for (const t of m.initializers) g.message(5, tensorProto(t)); // initializer
  for (const i of m.inputs) g.message(11, valueInfoProto(i)); // input
  for (const o of m.outputs) g.message(12, valueInfoProto(o)); // output
  const model = new Writer().int(1, m.irVersion); // ir_version
  model.string(2, m.producerName); // producer_name
  if (m.producerVersion !== undefined) model.string(3, m.producerVersion); // producer_version
  if (m.docString !== undefined) model.string(6, m.docString); // doc_string
  model.message(7, g); // graph
  model.message(8, new Writer().string(1, '').int(2, m.opsetVersion)); // opset_import {domain, version}
  return model.finish();
}
