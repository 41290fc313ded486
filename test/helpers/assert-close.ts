/**
 * Numeric comparison with a useful failure message: how many elements differ, the worst one (by
 * how far it exceeds its allowance) with its multi-dimensional index, and the first few others.
 */
import assert from 'node:assert/strict';
import type { Shape } from '../../src/backend/kernels.js';

/** Element i passes when |actual - expected| <= atol + rtol * |expected|. */
export interface Tol {
  atol: number;
  rtol: number;
}

/** Exact equality (int32 results, copies, comparisons). */
export const EXACT: Tol = { atol: 0, rtol: 0 };

/** Default float32 tolerance for results that are O(1). */
export const F32: Tol = { atol: 1e-5, rtol: 1e-4 };

/**
 * Tolerance for a sum of `k` products whose terms have typical magnitude `mag` (conv, matmul):
 * float32 round-off grows like sqrt(k).
 */
export function sumTol(k: number, mag = 1): Tol {
  return { atol: 1e-4 * Math.sqrt(Math.max(k, 1)) * mag + 1e-6, rtol: 1e-4 };
}

function unravel(i: number, shape: Shape | undefined): string {
  if (shape === undefined || shape.length === 0) return `${i}`;
  const idx: number[] = [];
  let r = i;
  for (let d = shape.length - 1; d >= 0; d--) {
    const s = shape[d]!;
    idx.unshift(s === 0 ? 0 : r % s);
    r = s === 0 ? 0 : Math.floor(r / s);
  }
  return `[${idx.join(',')}] (flat ${i})`;
}

function fmtv(v: number): string {
  return Number.isFinite(v) ? v.toPrecision(9) : String(v);
}

/**
 * Asserts elementwise closeness. NaN matches NaN; ±Infinity must match exactly; +0 equals -0.
 * @param shape optional logical shape, used to print multi-dimensional indices
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tol,
  label: string,
  shape?: Shape,
): void {
  if (actual.length !== expected.length) {
    assert.fail(`${label}: got ${actual.length} elements, expected ${expected.length}`);
  }
  let bad = 0;
  let worst = -1;
  let worstRatio = 0;
  let maxDiff = 0;
  const first: number[] = [];
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    let ratio: number;
    if (Number.isNaN(e) || Number.isNaN(a)) {
      ratio = Number.isNaN(e) && Number.isNaN(a) ? 0 : Infinity;
    } else if (!Number.isFinite(e) || !Number.isFinite(a)) {
      ratio = a === e ? 0 : Infinity;
    } else {
      const diff = Math.abs(a - e);
      maxDiff = Math.max(maxDiff, diff);
      const allowed = tol.atol + tol.rtol * Math.abs(e);
      ratio = diff === 0 ? 0 : allowed === 0 ? Infinity : diff / allowed;
    }
    if (ratio > 1) {
      bad++;
      if (first.length < 5) first.push(i);
      if (ratio > worstRatio || worst < 0) {
        worstRatio = ratio;
        worst = i;
      }
    }
  }
  if (bad > 0) {
    const a = actual[worst]!;
    const e = expected[worst]!;
    const others = first
      .filter((i) => i !== worst)
      .map((i) => `${unravel(i, shape)}: ${fmtv(actual[i]!)} vs ${fmtv(expected[i]!)}`)
      .join('; ');
    assert.fail(
      `${label}: ${bad}/${expected.length} elements outside atol=${tol.atol.toExponential(2)} rtol=${tol.rtol.toExponential(2)}` +
        (shape ? ` (shape [${shape.join(', ')}])` : '') +
        `; worst at ${unravel(worst, shape)}: actual=${fmtv(a)} expected=${fmtv(e)} |diff|=${fmtv(Math.abs(a - e))}` +
        `; max |diff| over finite elements ${fmtv(maxDiff)}` +
        (others ? `; other mismatches: ${others}` : ''),
    );
  }
}

/** Exact equality of two arrays (int32 results), with the same reporting. */
export function assertEqualArrays(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string, shape?: Shape): void {
  assertClose(actual, expected, EXACT, label, shape);
}
