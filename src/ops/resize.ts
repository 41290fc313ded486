/** Resampling: bilinear interpolation of NCHW images (PyTorch's `F.interpolate`, align_corners=false). */
import type { Shape, Storage } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import { pair } from '../tensor/args.js';
import { defineOp } from './op.js';
import { attr } from './onnx-api.js';

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

interface ResizeParams {
  shape4: number[];
  xShape: Shape;
  out: [number, number];
  yShape4: number[];
  outShape: number[];
}

/**
 * Bilinear resize of x [N, C, H, W] (or [C, H, W]) with PyTorch's align_corners=false sampling.
 * @example interpolate(tensor([[[[1, 2], [3, 4]]]]), { size: [4, 4] }) // first row 1, 1.25, 1.75, 2
 */
export const interpolate = defineOp({
  name: 'interpolate',
  kernel: 'resizeBilinear',
  setup: (x: Tensor, opts: InterpolateOptions) => {
    if (!(x instanceof Tensor)) throw new Error(`interpolate: expected a Tensor, got ${x === null ? 'null' : typeof x}`);
    const mode = opts.mode ?? 'bilinear';
    if (mode !== 'bilinear') throw new Error(`interpolate: mode '${String(mode)}' is not supported (only 'bilinear')`);
    if (opts.alignCorners) throw new Error('interpolate: alignCorners: true is not supported');
    if (x.ndim !== 4 && x.ndim !== 3) throw new Error(`interpolate: expected a 4-D input [N, C, H, W] (or 3-D [C, H, W]), got ${fmt(x.shape)}`);
    const shape4 = x.ndim === 3 ? [1, ...x.shape] : [...x.shape];
    const [H, W] = [shape4[2]!, shape4[3]!];
    if ((opts.size === undefined) === (opts.scaleFactor === undefined)) throw new Error('interpolate: give exactly one of size and scaleFactor');
    let out: [number, number];
    if (opts.size !== undefined) out = pair('interpolate', 'size', opts.size, 1);
    else {
      const sf = opts.scaleFactor!;
      const [sh, sw] = typeof sf === 'number' ? [sf, sf] : [sf[0], sf[1]];
      if (!(sh > 0 && sw > 0)) throw new Error(`interpolate: scaleFactor must be positive, got ${JSON.stringify(sf)}`);
      out = pair('interpolate', 'output size (from scaleFactor)', [Math.floor(H * sh), Math.floor(W * sw)], 1);
    }
    if (H === 0 || W === 0) throw new Error(`interpolate: input ${fmt(x.shape)} has an empty spatial dim`);
    const yShape4 = [shape4[0]!, shape4[1]!, out[0], out[1]];
    const params: ResizeParams = { shape4, xShape: x.shape, out, yShape4, outShape: x.ndim === 3 ? yShape4.slice(1) : yShape4 };
    return { inputs: [x], params, shape: params.outShape };
  },
  forward: (k, [x], p, c) => {
    const xs = p.xShape.length === 4 ? (x as Storage) : c.tmp(k.reshape(x as Storage, p.xShape, p.shape4));
    const y = k.resizeBilinear(xs, p.shape4, p.out);
    return p.outShape.length === 4 ? y : k.reshape(c.tmp(y), p.yShape4, p.outShape);
  },
  backward: (gy, c) => {
    const p = c.params;
    const gk = gy.kernels;
    const unbatched = p.xShape.length === 3;
    const dy = unbatched ? gk.reshape(gy.storage, gy.shape, p.yShape4) : gy.storage;
    try {
      const dx = gk.resizeBilinearBackward(dy, p.shape4, p.out);
      if (!unbatched) return [c.wrap(dx, p.xShape)];
      const r = c.wrap(gk.reshape(dx, p.shape4, p.xShape), p.xShape);
      gk.dispose(dx);
      return [r];
    } finally {
      if (unbatched) gk.dispose(dy);
    }
  },
  // ONNX Resize with explicit output sizes; 'pytorch_half_pixel' is align_corners=false (and maps a
  // size-1 output to the input's first pixel, as PyTorch does).
  onnx: (g, p) => {
    const x = g.inputs[0] as Tensor;
    if (x.ndim !== 4) throw g.fail(`interpolate on a ${x.ndim}-D input ${fmt(x.shape)} cannot be exported (give a batched [N, C, H, W] inputShape)`);
    if (g.dynamicBatch) {
      const shape = g.inner('Shape', [g.name(x)]);
      const nc = g.inner('Slice', [shape, g.int64s([0]), g.int64s([2])]);
      const full = g.inner('Concat', [nc, g.int64s(p.out)], { axis: attr.int(0) });
      return g.node('Resize', [g.name(x), '', '', full], { mode: attr.string('linear'), coordinate_transformation_mode: attr.string('pytorch_half_pixel') });
    }
    return g.node('Resize', [g.name(x), '', '', g.int64s(p.yShape4)], { mode: attr.string('linear'), coordinate_transformation_mode: attr.string('pytorch_half_pixel') });
  },
});
