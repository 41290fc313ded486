/**
 * Op tracing: while a tracer is installed, the ops report each call (op name, operands, output
 * tensor, attributes) so that a forward pass can be turned into a graph (the ONNX exporter). Off by
 * default; an op pays one null check per call when no tracer is installed.
 */
import type { Tensor } from '../tensor/tensor.js';

/** One op call seen by a tracer. */
export interface TracedOp {
  /** The op's name (`'conv2d'`, `'add'`, `'reshape'`, ...). */
  op: string;
  /** Operands in call order: tensors, plain numbers (scalar operands) or null (absent optional ones). */
  inputs: readonly (Tensor | number | null)[];
  /** The tensor the op returned. */
  output: Tensor;
  /** What the op needs besides its operands (stride, padding, axis, target shape, ...). */
  attrs: Readonly<Record<string, unknown>>;
}

/** Receives every traced op call. */
export type OpTracer = (call: TracedOp) => void;

/**
 * The installed tracer, or null. Ops test `tracing.tracer !== null` before building the record, so
 * that tracing costs nothing when off.
 */
export const tracing: { tracer: OpTracer | null } = { tracer: null };

/**
 * Reports an op call to the installed tracer (ops call it only when `tracing.tracer` is set).
 * Nested op calls are reported too (the inner ones first); an outer op that returns its own input
 * is not reported.
 */
export function traceOp(op: string, inputs: readonly (Tensor | number | null | undefined)[], output: Tensor, attrs: Record<string, unknown> = {}): void {
  const t = tracing.tracer;
  if (t === null || inputs.includes(output)) return;
  t({ op, inputs: inputs.map((v) => v ?? null), output, attrs });
}

/**
 * Runs `fn` with `tracer` receiving every op call, then restores the previous tracer (also when
 * `fn` throws).
 * @example const calls: TracedOp[] = []; withOpTracer((c) => calls.push(c), () => relu(x));
 */
export function withOpTracer<T>(tracer: OpTracer, fn: () => T): T {
  const prev = tracing.tracer;
  tracing.tracer = tracer;
  try {
    return fn();
  } finally {
    tracing.tracer = prev;
  }
}
