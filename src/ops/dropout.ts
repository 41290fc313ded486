/** Dropout with a seeded mask (reproducible through `manualSeed` or an explicit Generator). */
import type { Shape, Storage } from '../backend/kernels.js';
import { releaseHostArray } from '../backend/index.js';
import { Tensor } from '../tensor/tensor.js';
import { numel } from '../tensor/shape.js';
import { defaultGenerator, type Generator } from '../tensor/random.js';
import { hostArrayOf } from '../tensor/dtype.js';
import { defineOp } from './op.js';
import { mul } from './elementwise.js';

/** Options of `dropout`. */
export interface DropoutOptions {
  /** Probability of zeroing an element (default 0.5). */
  p?: number;
  /** Apply dropout (default true); when false the input is returned unchanged. */
  training?: boolean;
  /** Source of the mask (default: the global generator seeded by `manualSeed`). */
  generator?: Generator;
}

const dropoutOp = defineOp({
  name: 'dropout',
  kernel: 'binary',
  setup: (x: Tensor, p: number, g: Generator) => ({ inputs: [x], params: { p, g, shape: x.shape as Shape }, shape: x.shape }),
  forward: (k, [x], { p, g, shape }, c) => {
    // Shapes only (the training-memory estimate): a mask of the right size, without drawing it.
    if (k.name === 'meta') {
      const m = k.full(shape, c.dtype, 0);
      return { y: k.binary('mul', x as Storage, shape, m, shape, shape), saved: [m] };
    }
    const keep = 1 - p;
    const scale = p === 1 ? 0 : 1 / keep;
    const m = new Float32Array(numel(shape));
    g.fillUniform(m); // the numbers of g.random() (exact in float32), in bulk
    for (let i = 0; i < m.length; i++) m[i] = m[i]! < keep ? scale : 0;
    const host = hostArrayOf(c.dtype, m);
    const mask = k.fromHost(host, shape, c.dtype);
    // One mask per step: freed now, not when V8 gets to it.
    releaseHostArray(k, host);
    if (host !== m) releaseHostArray(k, m);
    return { y: k.binary('mul', x as Storage, shape, mask, shape, shape), saved: [mask] };
  },
  backward: (gy, c) => [mul(gy, c.wrap(gy.kernels.reshape(c.saved[0]!, c.params.shape, c.params.shape), c.params.shape))],
  saves: () => ({ inputs: [] }), // the mask is in `saved`
  onnx: (g) => {
    throw g.fail('dropout in training mode cannot be exported (the model is exported in eval mode; pass training: this.training)');
  },
});

/**
 * Zeroes each element with probability p and scales the kept ones by 1/(1-p) (inverted dropout).
 * The mask draws one uniform number per element in row-major order: kept where u < 1 - p.
 * Identity (the same tensor) when `training` is false or p is 0; zeros when p is 1.
 * @example dropout(h, { p: 0.5, training: net.training })
 */
export function dropout(x: Tensor, opts: DropoutOptions = {}): Tensor {
  const p = opts.p ?? 0.5;
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout: p must be in [0, 1], got ${p}`);
  if (!(x instanceof Tensor)) throw new Error(`dropout: expected a Tensor, got ${x === null ? 'null' : typeof x}`);
  if (opts.training === false || p === 0) return x;
  return dropoutOp(x, p, opts.generator ?? defaultGenerator);
}
