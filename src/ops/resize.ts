/** Resampling: bilinear interpolation of NCHW images (PyTorch's `F.interpolate`, align_corners=false). */
import { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import { checkFloat, pair, record, reshapeOwned, sameBackend, wrap } from './util.js';

/** Options of `interpolate`: give `size` or `scaleFactor`. */
export interface InterpolateOptions {
  /** Output [height, width] (or one number for both). */
  size?: number | readonly [number, number];
  /** Multiplier of the input size (output = floor(in * scale)); the sampling grid is in/out. */
  scaleFactor?: number | readonly [number, number];
  /** Only 'bilinear' is supported. */
  mode?: 'bilinear';
  /** Only false (PyTorch's default) is supported. */
  alignCorners?: boolean;
}

/**
 * Bilinear resize of x [N, C, H, W] (or [C, H, W]) with PyTorch's align_corners=false sampling.
 * @example interpolate(tensor([[[[1, 2], [3, 4]]]]), { size: [4, 4] }) // first row 1, 1.25, 1.75, 2
 */
export function interpolate(x: Tensor, opts: InterpolateOptions): Tensor {
  const k = sameBackend('interpolate', x);
  checkFloat('interpolate', x);
  const mode = opts.mode ?? 'bilinear';
  if (mode !== 'bilinear') throw new Error(`interpolate: mode '${String(mode)}' is not supported (only 'bilinear')`);
  if (opts.alignCorners) throw new Error('interpolate: alignCorners: true is not supported');
  if (x.ndim !== 4 && x.ndim !== 3) {
    throw new Error(`interpolate: expected a 4-D input [N, C, H, W] (or 3-D [C, H, W]), got ${fmt(x.shape)}`);
  }
  const shape4 = x.ndim === 3 ? [1, ...x.shape] : [...x.shape];
  const [H, W] = [shape4[2]!, shape4[3]!];
  if ((opts.size === undefined) === (opts.scaleFactor === undefined)) {
    throw new Error('interpolate: give exactly one of size and scaleFactor');
  }
  let out2: [number, number];
  if (opts.size !== undefined) out2 = pair('interpolate', 'size', opts.size, 1);
  else {
    const sf = opts.scaleFactor!;
    const [sh, sw] = typeof sf === 'number' ? [sf, sf] : [sf[0], sf[1]];
    if (!(sh > 0 && sw > 0)) throw new Error(`interpolate: scaleFactor must be positive, got ${JSON.stringify(sf)}`);
    out2 = pair('interpolate', 'output size (from scaleFactor)', [Math.floor(H * sh), Math.floor(W * sw)], 1);
  }
  if (H === 0 || W === 0) throw new Error(`interpolate: input ${fmt(x.shape)} has an empty spatial dim`);
  const yShape4 = [shape4[0]!, shape4[1]!, out2[0], out2[1]];
  const outShape = x.ndim === 3 ? yShape4.slice(1) : yShape4;
  const xs = x.ndim === 3 ? k.reshape(x.storage, x.shape, shape4, 'float32') : x.storage;
  let y;
  try {
    y = k.resizeBilinear(xs, shape4, out2);
  } finally {
    if (x.ndim === 3) k.dispose(xs);
  }
  const out = wrap(k, reshapeOwned(k, y, yShape4, outShape, 'float32'), outShape);
  return record('interpolate', [x], out, (gy) => {
    const gk = gy.kernels;
    const dy = x.ndim === 3 ? gk.reshape(gy.storage, gy.shape, yShape4, 'float32') : gy.storage;
    try {
      const dx = gk.resizeBilinearBackward(dy, shape4, out2);
      return [wrap(gk, reshapeOwned(gk, dx, shape4, x.shape, 'float32'), x.shape)];
    } finally {
      if (x.ndim === 3) gk.dispose(dy);
    }
  });
}
