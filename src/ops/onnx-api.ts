/**
 * What an op's ONNX lowering (declared next to the op) sees of the exporter: the names of its
 * operands, a way to emit nodes and constants, and the batch axis bookkeeping for dynamic batch
 * sizes. The exporter (src/onnx) implements `OnnxLowering`; ops only use this interface, so the
 * ops layer does not depend on the exporter.
 */
import type { Tensor } from '../tensor/tensor.js';

/** A node attribute (the subset of ONNX's AttributeProto the exporter writes). */
export type OnnxAttr =
  | { kind: 'int'; value: number }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string };

/** Attribute constructors. @example node('Conv', ins, { group: attr.int(1) }) */
export const attr = {
  int: (value: number): OnnxAttr => ({ kind: 'int', value }),
  ints: (value: readonly number[]): OnnxAttr => ({ kind: 'ints', value }),
  float: (value: number): OnnxAttr => ({ kind: 'float', value }),
  string: (value: string): OnnxAttr => ({ kind: 'string', value }),
};

/** ONNX TensorProto element types the lowerings use. */
export const OnnxType = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9 } as const;

/** The exporter as one op call's lowering sees it. */
export interface OnnxLowering {
  /** The traced operands: tensors, numbers (scalar operands) or null. */
  readonly inputs: readonly (Tensor | number | null)[];
  /** The traced output. */
  readonly output: Tensor;
  /** The value name of an operand (a number becomes a float32 scalar constant). */
  name(v: Tensor | number | null): string;
  /** Emits the node that produces the call's output; returns the output name. */
  node(opType: string, inputs: readonly string[], attributes?: Record<string, OnnxAttr>): string;
  /** Emits an intermediate node; returns its output name. */
  inner(opType: string, inputs: readonly string[], attributes?: Record<string, OnnxAttr>): string;
  /** A float32 constant of shape `dims`. */
  floats(dims: readonly number[], values: readonly number[]): string;
  /** An int64 vector constant. */
  int64s(values: readonly number[]): string;
  /** The batch axis of a traced tensor (-1: none, or the batch size is fixed). */
  batchAxis(t: Tensor): number;
  /** True when the exported batch dim is symbolic. */
  readonly dynamicBatch: boolean;
  /** The traced batch size. */
  readonly batch: number;
  /** An error naming the module that made the call. */
  fail(why: string): Error;
}

/**
 * An op's lowering: emits nodes and returns the output's value name, or [name, batch axis of the
 * output] when the op moves the batch axis (default: the batch axis of the first tensor operand).
 */
export type OnnxLower<P> = (g: OnnxLowering, params: P) => string | [string, number];
