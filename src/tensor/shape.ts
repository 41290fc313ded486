/** Shape utilities shared by tensors and ops. */
import type { Shape } from '../backend/kernels.js';

/** Number of elements of a shape (1 for a scalar). */
export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** `[2, 3]` -> `'[2, 3]'`, for error messages. */
export function fmt(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** True when both shapes are identical. */
export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Normalizes a possibly negative axis for a tensor of rank `ndim`; throws naming `op`. */
export function normAxis(axis: number, ndim: number, op: string): number {
  const a = axis < 0 ? axis + ndim : axis;
  if (!Number.isInteger(a) || a < 0 || a >= Math.max(ndim, 1)) {
    throw new Error(`${op}: dim ${axis} is out of range for a tensor of ${ndim} dims`);
  }
  return a;
}

/** NumPy broadcast of two shapes; throws naming `op` and both shapes when incompatible. */
export function broadcastShapes(a: Shape, b: Shape, op: string): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes ${fmt(a)} and ${fmt(b)} cannot be broadcast together`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Validates a shape (non-negative integers) and returns a copy; throws naming `op`. */
export function checkShape(shape: Shape, op: string): number[] {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${op}: invalid shape ${fmt(shape)}`);
  }
  return [...shape];
}
