/** Dropout with a seeded mask (reproducible through `manualSeed` or an explicit Generator). */
import { Tensor } from '../tensor/tensor.js';
import { defaultGenerator, type Generator } from '../tensor/random.js';
import { checkFloat, record, sameBackend, wrap } from './util.js';
import { mul } from './elementwise.js';
import { traceOp, tracing } from './trace.js';

/** Options of `dropout`. */
export interface DropoutOptions {
  /** Probability of zeroing an element (default 0.5). */
  p?: number;
  /** Apply dropout (default true); when false the input is returned unchanged. */
  training?: boolean;
  /** Source of the mask (default: the global generator seeded by `manualSeed`). */
  generator?: Generator;
}

/**
 * Zeroes each element with probability p and scales the kept ones by 1/(1-p) (inverted dropout).
 * The mask draws one uniform number per element in row-major order: kept where u < 1 - p.
 * Identity (the same tensor) when `training` is false or p is 0; zeros when p is 1.
 * @example dropout(h, { p: 0.5, training: net.training })
 */
export function dropout(x: Tensor, opts: DropoutOptions = {}): Tensor {
  const k = sameBackend('dropout', x);
  checkFloat('dropout', x);
  const p = opts.p ?? 0.5;
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout: p must be in [0, 1], got ${p}`);
  if (opts.training === false || p === 0) return x;
  const g = opts.generator ?? defaultGenerator;
  const keep = 1 - p;
  const scale = p === 1 ? 0 : 1 / keep;
  const m = new Float32Array(x.size);
  g.fillUniform(m); // the numbers of g.random() (exact in float32), in bulk
  for (let i = 0; i < m.length; i++) m[i] = m[i]! < keep ? scale : 0;
  const mask = wrap(k, k.fromHost(m, x.shape, 'float32'), x.shape);
  const out = wrap(k, k.binary('mul', x.storage, x.shape, mask.storage, x.shape, x.shape), x.shape);
  if (tracing.tracer !== null) traceOp('dropout', [x], out, { p });
  return record('dropout', [x], out, (gy) => [mul(gy, mask)], [mask]);
}
