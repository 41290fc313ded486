/** Softmax and log-softmax along any axis, numerically stable (the row max is subtracted first). */
import type { Shape, Storage } from '../kernels.js';
import { allocFloat, fl, wrap } from './storage.js';
import { splitAxis } from './util.js';

/** softmax(x) = exp(x - max) / Σ exp(x - max); logSoftmax(x) = x - max - log Σ exp(x - max). */
export function softmax(x: Storage, shape: Shape, axis: number, log: boolean): Storage {
  const xd = fl(x);
  const { outer, len, inner } = splitAxis(shape, axis);
  const y = allocFloat(x, outer * len * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * len * inner + j;
      let mx = -Infinity;
      for (let i = 0; i < len; i++) mx = Math.max(mx, xd[base + i * inner]!);
      // An all -Infinity row gives NaN (-inf - -inf), as in PyTorch.
      let s = 0;
      for (let i = 0; i < len; i++) s += Math.exp(xd[base + i * inner]! - mx);
      if (log) {
        const lse = Math.log(s);
        for (let i = 0; i < len; i++) y[base + i * inner] = xd[base + i * inner]! - mx - lse;
      } else {
        for (let i = 0; i < len; i++) y[base + i * inner] = Math.exp(xd[base + i * inner]! - mx) / s;
      }
    }
  }
  return wrap(y);
}

/**
 * Gradient from the output y: softmax dx = y·(dy − Σ dy·y); logSoftmax dx = dy − exp(y)·Σ dy
 * (sums along the axis).
 */
export function softmaxBackward(dy: Storage, y: Storage, shape: Shape, axis: number, log: boolean): Storage {
  const g = fl(dy);
  const yd = fl(y);
  const { outer, len, inner } = splitAxis(shape, axis);
  const dx = allocFloat(dy, outer * len * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * len * inner + j;
      let s = 0;
      if (log) {
        for (let i = 0; i < len; i++) s += g[base + i * inner]!;
        for (let i = 0; i < len; i++) {
          const k = base + i * inner;
          dx[k] = g[k]! - Math.exp(yd[k]!) * s;
        }
      } else {
        for (let i = 0; i < len; i++) s += g[base + i * inner]! * yd[base + i * inner]!;
        for (let i = 0; i < len; i++) {
          const k = base + i * inner;
          dx[k] = yd[k]! * (g[k]! - s);
        }
      }
    }
  }
  return wrap(dx);
}
