/** Reductions over axes (keepdim results) and argmax. Sums accumulate in doubles. */
import type { ReduceOp, Shape, Storage } from '../kernels.js';
import { fl, ref, wrap, wrapAcc } from './storage.js';
import { broadcastMap, numel, splitAxis } from './util.js';

/** The keepdim shape: `shape` with every axis in `axes` set to 1. */
export function keepdimShape(shape: Shape, axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/**
 * Reduces over `axes`; the result has the keepdim shape. sum/mean accumulate in doubles and mean
 * divides by the product of the reduced sizes; max/min propagate NaN like PyTorch. Empty
 * reductions give sum 0, mean NaN, max -Infinity, min +Infinity.
 */
export function reduce(op: ReduceOp, x: Storage, shape: Shape, axes: readonly number[]): Storage {
  const xd = fl(x);
  const outShape = keepdimShape(shape, axes);
  const n = numel(shape);
  const m = numel(outShape);
  // The keepdim output broadcasts back onto the input, so the broadcast map sends every input
  // element to the output slot it reduces into.
  const toOut = broadcastMap(outShape, shape);
  const acc = new Float64Array(m);
  if (op === 'sum' || op === 'mean') {
    for (let i = 0; i < n; i++) acc[toOut[i]!] += xd[i]!;
    if (op === 'mean') {
      const count = m === 0 ? 0 : n / m;
      for (let j = 0; j < m; j++) acc[j] /= count;
    }
  } else if (op === 'max') {
    acc.fill(-Infinity);
    for (let i = 0; i < n; i++) {
      const v = xd[i]!;
      const j = toOut[i]!;
      // Once the accumulator is NaN, `v > NaN` is false, so NaN sticks.
      if (v > acc[j]! || v !== v) acc[j] = v;
    }
  } else if (op === 'min') {
    acc.fill(Infinity);
    for (let i = 0; i < n; i++) {
      const v = xd[i]!;
      const j = toOut[i]!;
      if (v < acc[j]! || v !== v) acc[j] = v;
    }
  } else {
    throw new Error(`reference backend: unknown reduce op '${String(op)}'`);
  }
  return wrapAcc(acc, x.dtype);
}

/** int32 index of the maximum along `axis` (keepdim shape); the first maximum wins, NaN counts as maximal. */
export function argmax(x: Storage, shape: Shape, axis: number): Storage {
  const xd = ref(x).data;
  const { outer, len, inner } = splitAxis(shape, axis);
  const out = new Int32Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * len * inner + j;
      let best = xd[base]!;
      let bestIdx = 0;
      for (let i = 1; i < len && best === best; i++) {
        const v = xd[base + i * inner]!;
        if (v > best || v !== v) {
          best = v;
          bestIdx = i;
        }
      }
      out[o * inner + j] = bestIdx;
    }
  }
  return wrap(out);
}
