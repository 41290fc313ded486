/**
 * Zoo look-ups for the commands: a model name checked against the registry (one-line error listing
 * the valid names), and a model's layer summary, parameters and forward FLOPs for an input shape.
 */
import { dispose } from '../tensor/scope.js';
import { withBackend } from '../backend/index.js';
import { modelEntry, type ModelEntry } from '../models/index.js';
import type { Classifier, LayerSummaryRow } from '../train/classifier.js';
import { CliError } from './args.js';

/** The registry entry of `name`, or a `CliError` listing the valid names. */
export function lookupModel(name: string): ModelEntry {
  try {
    return modelEntry(name);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

/** A model's layer summary for one input shape, with its totals. */
export interface ModelStats {
  /** One row per top-level layer (as `Classifier.layerSummary`). */
  layers: LayerSummaryRow[];
  /** Parameter elements of the whole model. */
  params: number;
  /** Forward FLOPs of the whole model for the input shape. */
  flops: number;
}

/**
 * Builds `name` with its defaults (the input's channel count) on the meta backend (shapes only: no
 * memory, no arithmetic), runs `layerSummary(shape)` and frees the model. Shapes the model cannot
 * take (too small for its pooling) fail with one line.
 * @example modelStats('lenet', [1, 1, 28, 28]).params // 61706
 */
export function modelStats(name: string, shape: readonly number[]): ModelStats {
  return withBackend('meta', () => statsOf(name, shape));
}

function statsOf(name: string, shape: readonly number[]): ModelStats {
  const entry = lookupModel(name);
  let model: Classifier | null = null;
  try {
    model = entry.create({ inChannels: shape[1] });
    const layers = model.layerSummary(shape, { print: false });
    return {
      layers,
      params: model.numParameters(),
      flops: layers.reduce((s, r) => s + r.flops, 0),
    };
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`${name} cannot take an input of shape [${shape.join(', ')}]: ${(e as Error).message}`);
  } finally {
    if (model !== null) dispose(Object.values(model.stateDict()));
  }
}

/** `61,706`-style thousands separators. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** Renders rows as a left/right aligned text table with a header rule. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], rightAligned: readonly number[] = []): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, c) => (rightAligned.includes(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
