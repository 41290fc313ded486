/** Small helpers shared by the layers (argument pairs, error formatting). */
import { fmt } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';

/** An int or an `[height, width]` pair, as PyTorch's `_pair` arguments. */
export type IntPair = number | readonly [number, number];

/** Normalizes an int or pair to a pair, validating that each entry is an integer >= `min`. */
export function pair(v: IntPair, what: string, layer: string, min = 0): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (p.length !== 2 || !p.every((d) => Number.isInteger(d) && d >= min)) {
    throw new Error(`${layer}: ${what} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`);
  }
  return p;
}

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
