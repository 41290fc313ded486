/** Small helpers shared by the layers (argument pairs, error formatting). */
import { fmt } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { Kernels } from '../../backend/kernels.js';
import type { Parameter } from '../parameter.js';
import { calculateFanInAndFanOut, kaimingUniform, uniform } from '../init.js';

/** An int or an `[height, width]` pair, as PyTorch's `_pair` arguments. */
export type IntPair = number | readonly [number, number];

export { pair } from '../../tensor/args.js';

/** `'1'` for equal pairs, `'(1, 2)'` otherwise (for `toString`). */
export function showPair(p: readonly [number, number]): string {
  return p[0] === p[1] ? String(p[0]) : `(${p[0]}, ${p[1]})`;
}

/** Throws `${layer}: expected ${what} (input [..])` unless `ok`. */
export function expectInput(ok: boolean, layer: string, what: string, x: Tensor): void {
  if (!ok) throw new Error(`${layer}: ${what} (input ${fmt(x.shape)})`);
}

/** Validates a positive integer size argument. */
export function positiveInt(v: number, what: string, layer: string): number {
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${layer}: ${what} must be a positive integer, got ${String(v)}`);
  return v;
}

/**
 * PyTorch's default init of a Conv2d/Linear: weight kaiming_uniform(a=√5), bias U(±1/√fanIn).
 * @example resetWeightAndBias(layer.weight, layer.bias)
 */
export function resetWeightAndBias(weight: Parameter, bias: Parameter | null): void {
  kaimingUniform(weight, { a: Math.sqrt(5) });
  if (bias !== null) {
    const [fanIn] = calculateFanInAndFanOut(weight);
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    uniform(bias, -bound, bound);
  }
}

/**
 * Gives a lazy layer's weight and bias their shapes on the first input: staged host buffers are
 * filled by `reset` (the default init), then by inits applied while the layer was lazy
 * (`net.apply(xavierInitCnn)` before the first forward), and uploaded once.
 */
export function materializeWeightAndBias(
  weight: Parameter,
  bias: Parameter | null,
  weightShape: readonly number[],
  kernels: Kernels,
  reset: () => void,
): void {
  weight.materialize([...weightShape], kernels, { staged: true });
  bias?.materialize([weightShape[0]!], kernels, { staged: true });
  reset();
  weight.runPendingInits();
  bias?.runPendingInits();
  weight.flush();
  bias?.flush();
}
