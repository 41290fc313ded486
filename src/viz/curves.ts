/**
 * Training curves as SVG, like d2l's `ProgressBoard`: the training loss within epochs (points at
 * fractional epochs, from `EpochRecord.trainCurve`), validation loss and validation accuracy at the
 * end of each epoch, on one shared y axis, with legend, ticks and a title.
 */
import type { CurvePoint, EpochRecord } from '../train/trainer.js';
import { escapeXml, px } from './svg.js';
import { decimals, niceScale, niceStep } from './ticks.js';

/** Options of `curvesSvg`. */
export interface CurvesOptions {
  /** Heading above the plot (default 'Training curves'; '' for none). */
  title?: string;
  /** Image width in pixels (default 640). */
  width?: number;
  /** Image height in pixels (default 400). */
  height?: number;
  /** The x axis runs from 0 to this (default: the last record's epoch, at least 1). */
  maxEpochs?: number;
  /** Training-curve points of the epoch still running (the live dashboard), drawn after the records' ones. */
  current?: readonly CurvePoint[];
}

/** One plotted quantity of an `EpochRecord`. */
export interface CurveSeries {
  /** The record field. */
  key: 'trainLoss' | 'valLoss' | 'valAcc';
  /** Legend text. */
  label: string;
  /** Stroke and marker colour (matplotlib's first three colours, as in d2l's plots). */
  color: string;
  /** SVG `stroke-dasharray` ('' = solid): d2l draws '-', '--' and '-.'. */
  dash: string;
}

/** The three series in drawing order (later ones are drawn on top). */
export const CURVE_SERIES: readonly CurveSeries[] = [
  { key: 'trainLoss', label: 'train loss', color: '#1f77b4', dash: '' },
  { key: 'valLoss', label: 'val loss', color: '#ff7f0e', dash: '7 4' },
  { key: 'valAcc', label: 'val acc', color: '#2ca02c', dash: '9 3 2 3' },
];

const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
// Margins around the plot area: room for the y tick labels on the left and for the x tick labels
// plus the 'epoch' axis label below.
const LEFT = 56;
const RIGHT = 20;
const BOTTOM = 44;
const TITLE_H = 28;
const LEGEND_H = 26;

/**
 * The curves of `records` as a standalone SVG document.
 *
 * Axis mapping (also what the tests check): the plot area is the `<rect class="plot-area">`
 * (x0, y0, w, h); an epoch `e` (fractional for the training loss within epochs) is drawn at
 * x = x0 + e / xMax · w with xMax = `maxEpochs` (or the last epoch, at least 1); a value `v` at
 * y = y0 + h · (yMax − v) / (yMax − yMin), where [yMin, yMax] is [min(0, smallest value),
 * max(1, largest value)] widened to nice ticks (steps of 1, 2, 2.5, 5 × 10^k, about 5 of them).
 * Each point is a `<circle data-series=… data-epoch=…>`; NaN and infinite values (no validation,
 * diverged loss) are left out and break the line. The training loss is drawn from each record's
 * `trainCurve` (d2l's points within the epoch) when it has one, else at the epoch's end.
 * @example await svgToPng(curvesSvg(trainer.records, { title: 'LeNet', maxEpochs: 10 }), 'curves.png');
 */
export function curvesSvg(records: EpochRecord[], opts: CurvesOptions = {}): string {
  const width = opts.width ?? 640;
  const height = opts.height ?? 400;
  const title = opts.title ?? 'Training curves';
  if (!(Number.isFinite(width) && Number.isFinite(height))) throw new Error(`curvesSvg: width and height must be finite numbers, got ${width}x${height}`);
  const top = (title ? TITLE_H : 8) + LEGEND_H;
  const plotW = width - LEFT - RIGHT;
  const plotH = height - top - BOTTOM;
  if (plotW < 40 || plotH < 40) {
    throw new Error(`curvesSvg: ${width}x${height} leaves no room for the plot (need at least ${LEFT + RIGHT + 40}x${top + BOTTOM + 40})`);
  }
  if (opts.maxEpochs !== undefined && !(opts.maxEpochs > 0)) throw new Error(`curvesSvg: maxEpochs must be positive, got ${opts.maxEpochs}`);

  const train = trainPoints(records, opts.current ?? []);
  const lastEpoch = Math.max(
    records.reduce((m, r) => Math.max(m, Number.isFinite(r.epoch) ? r.epoch : 0), 0),
    train.reduce((m, p) => Math.max(m, Math.ceil(p.epoch)), 0),
  );
  const xMax = Math.max(opts.maxEpochs ?? 0, lastEpoch, 1);
  let lo = 0;
  let hi = 1;
  const widen = (v: number): void => {
    if (Number.isFinite(v)) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  };
  for (const r of records) for (const s of CURVE_SERIES) if (s.key !== 'trainLoss') widen(r[s.key]);
  for (const p of train) widen(p.loss);
  const ys = niceScale(lo, hi, 5);
  const xStep = niceStep(xMax / 10, true);
  const sx = (e: number): number => LEFT + (e / xMax) * plotW;
  const sy = (v: number): number => top + (plotH * (ys.max - v)) / (ys.max - ys.min);
  const bottomY = top + plotH;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(title || 'Training curves')}">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
  );
  if (title) {
    out.push(`<text class="title" x="${px(width / 2)}" y="20" text-anchor="middle" font-family="${FONT}" font-size="15" font-weight="bold" fill="#222222">${escapeXml(title)}</text>`);
  }
  out.push(legend(width, top - LEGEND_H + 4));
  out.push(`<rect class="plot-area" x="${LEFT}" y="${top}" width="${plotW}" height="${plotH}" fill="#ffffff" stroke="none"/>`);

  // Grid and ticks.
  out.push('<g class="grid" stroke="#e3e3e3" stroke-width="1">');
  for (const t of ys.ticks) out.push(`<line x1="${LEFT}" x2="${LEFT + plotW}" y1="${px(sy(t))}" y2="${px(sy(t))}"/>`);
  for (let e = 0; e <= xMax + 1e-9; e += xStep) out.push(`<line x1="${px(sx(e))}" x2="${px(sx(e))}" y1="${top}" y2="${bottomY}"/>`);
  out.push('</g>');
  const yDigits = decimals(ys.step);
  out.push(`<g class="y-ticks" font-family="${FONT}" font-size="12" fill="#333333" text-anchor="end">`);
  for (const t of ys.ticks) {
    out.push(`<line x1="${LEFT - 5}" x2="${LEFT}" y1="${px(sy(t))}" y2="${px(sy(t))}" stroke="#333333"/>`);
    out.push(`<text x="${LEFT - 8}" y="${px(sy(t) + 4)}">${t.toFixed(yDigits)}</text>`);
  }
  out.push('</g>');
  out.push(`<g class="x-ticks" font-family="${FONT}" font-size="12" fill="#333333" text-anchor="middle">`);
  for (let e = 0; e <= xMax + 1e-9; e += xStep) {
    out.push(`<line x1="${px(sx(e))}" x2="${px(sx(e))}" y1="${bottomY}" y2="${bottomY + 5}" stroke="#333333"/>`);
    out.push(`<text x="${px(sx(e))}" y="${bottomY + 18}">${e}</text>`);
  }
  out.push('</g>');
  out.push(`<text class="x-label" x="${px(LEFT + plotW / 2)}" y="${height - 8}" text-anchor="middle" font-family="${FONT}" font-size="13" fill="#333333">epoch</text>`);
  // Axes drawn after the grid so they stay black where a grid line coincides.
  out.push(`<path class="axes" d="M${LEFT} ${top}V${bottomY}H${LEFT + plotW}" fill="none" stroke="#333333" stroke-width="1"/>`);

  if (records.length === 0 && train.length === 0) {
    out.push(`<text class="empty" x="${px(LEFT + plotW / 2)}" y="${px(top + plotH / 2)}" text-anchor="middle" font-family="${FONT}" font-size="13" fill="#888888">waiting for the first epoch…</text>`);
  }
  for (const s of CURVE_SERIES) {
    const pts = s.key === 'trainLoss' ? train : records.map((r) => ({ epoch: r.epoch, loss: r[s.key] }));
    out.push(series(pts, s, sx, sy));
  }
  out.push('</svg>');
  return out.join('\n');
}

/**
 * The training-loss points: each record's `trainCurve` (points within the epoch), or its epoch
 * mean at the epoch's end when it has none (records from before within-epoch curves), then the
 * running epoch's points.
 */
function trainPoints(records: readonly EpochRecord[], current: readonly CurvePoint[]): CurvePoint[] {
  const out: CurvePoint[] = [];
  for (const r of records) {
    if (r.trainCurve !== undefined && r.trainCurve.length > 0) out.push(...r.trainCurve);
    else out.push({ epoch: r.epoch, loss: r.trainLoss });
  }
  out.push(...current);
  return out;
}

/** `data-epoch` text: integers as they are, fractional epochs with 4 decimals. */
function epochText(e: number): string {
  return Number.isInteger(e) ? String(e) : e.toFixed(4);
}

/** One series: a line through consecutive finite points (NaN breaks it) and a marker per point. */
function series(points: readonly CurvePoint[], s: CurveSeries, sx: (e: number) => number, sy: (v: number) => number): string {
  let d = '';
  let pen = false;
  const marks: string[] = [];
  // Dense within-epoch curves get smaller markers.
  const r = points.length > 60 ? 2 : 3.5;
  for (const p of points) {
    const v = p.loss;
    if (!Number.isFinite(v) || !Number.isFinite(p.epoch)) {
      pen = false;
      continue;
    }
    const x = px(sx(p.epoch));
    const y = px(sy(v));
    d += `${pen ? 'L' : 'M'}${x} ${y}`;
    pen = true;
    marks.push(`<circle data-series="${s.key}" data-epoch="${epochText(p.epoch)}" cx="${x}" cy="${y}" r="${r}"/>`);
  }
  const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
  return [
    `<g class="series" data-series="${s.key}">`,
    d ? `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dash} stroke-linejoin="round"/>` : '',
    `<g fill="${s.color}">`,
    ...marks,
    '</g></g>',
  ].join('\n');
}

/** The legend row above the plot: a line sample (with marker) and the label for each series. */
function legend(width: number, y: number): string {
  const itemW = 120;
  const x0 = width / 2 - (itemW * CURVE_SERIES.length) / 2;
  const parts = [`<g class="legend" font-family="${FONT}" font-size="12" fill="#333333">`];
  CURVE_SERIES.forEach((s, i) => {
    const x = x0 + i * itemW;
    const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
    parts.push(
      `<line x1="${px(x)}" x2="${px(x + 30)}" y1="${px(y + 8)}" y2="${px(y + 8)}" stroke="${s.color}" stroke-width="2"${dash}/>`,
      `<circle cx="${px(x + 15)}" cy="${px(y + 8)}" r="3.5" fill="${s.color}"/>`,
      `<text x="${px(x + 36)}" y="${px(y + 12)}">${escapeXml(s.label)}</text>`,
    );
  });
  parts.push('</g>');
  return parts.join('\n');
}
