/**
 * "Nice" axis ticks: steps of 1, 2, 2.5 or 5 times a power of ten, as plotting libraries choose
 * them, so that tick labels are short round numbers.
 */

/**
 * The smallest nice step (1, 2, 2.5 or 5 × 10^k; 1, 2 or 5 × 10^k with `integer`) that is ≥ `raw`.
 * @example niceStep(0.46) // 0.5
 */
export function niceStep(raw: number, integer = false): number {
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const mults = integer ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10];
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of mults) {
    // The relative slack keeps 0.3/0.1 = 2.9999999999999996 from picking the next step up.
    if (m * p >= raw * (1 - 1e-9)) return integer ? Math.max(1, Math.round(m * p)) : m * p;
  }
  return 10 * p;
}

/** An axis range widened to whole steps, and its tick positions. */
export interface TickScale {
  /** Lower end of the axis (a multiple of `step`). */
  min: number;
  /** Upper end of the axis (a multiple of `step`). */
  max: number;
  /** Distance between ticks. */
  step: number;
  /** Tick positions from `min` to `max`. */
  ticks: number[];
}

/**
 * Widens [lo, hi] to multiples of a nice step chosen so there are about `target` intervals.
 * @example niceScale(0, 2.3) // { min: 0, max: 2.5, step: 0.5, ticks: [0, 0.5, 1, 1.5, 2, 2.5] }
 */
export function niceScale(lo: number, hi: number, target = 5, integer = false): TickScale {
  if (!(hi > lo)) hi = lo + 1;
  const step = niceStep((hi - lo) / target, integer);
  const min = Math.floor(lo / step + 1e-9) * step;
  const max = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  const n = Math.round((max - min) / step);
  // Computed as min + i*step (rounded to the step's precision) so labels do not read 0.30000000000000004.
  const digits = decimals(step);
  for (let i = 0; i <= n; i++) ticks.push(Number((min + i * step).toFixed(digits)));
  return { min: ticks[0]!, max: ticks[n]!, step, ticks };
}

/**
 * Number of decimals needed to print multiples of `step` exactly (0.25 → 2, 0.5 → 1, 2 → 0).
 * @example decimals(0.25) // 2
 */
export function decimals(step: number): number {
  for (let d = 0; d < 10; d++) {
    if (Math.abs(Math.round(step * 10 ** d) - step * 10 ** d) < 1e-6) return d;
  }
  return 10;
}
