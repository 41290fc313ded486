/** 2-D convolution (cross-correlation, as PyTorch) over NCHW inputs with OIHW weights. */
import type { Conv2dParams, Shape, Storage } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt, numel } from '../tensor/shape.js';
import { checkInt, pair } from '../tensor/args.js';
import { defineOp } from './op.js';
import { attr } from './onnx-api.js';
import { reshape, sumTo } from './shape.js';

/** A number for both spatial dims or a [height, width] pair. */
export type Size2 = number | readonly [number, number];

/** Geometry of `conv2d` (PyTorch's defaults: stride 1, padding 0, dilation 1, groups 1). */
export interface Conv2dOptions {
  stride?: Size2;
  padding?: Size2;
  dilation?: Size2;
  groups?: number;
}

/**
 * Output size of a convolution along one dim: floor((in + 2p - d(k-1) - 1) / s) + 1.
 * @example convOutSize(28, 5, 1, 2, 1) // 28
 */
export function convOutSize(inSize: number, kernel: number, stride: number, padding: number, dilation: number): number {
  return Math.floor((inSize + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1;
}

interface ConvParams {
  p: Conv2dParams;
  /** Input as 4-D (unbatched inputs get N = 1) and its real shape. */
  xs: number[];
  xShape: Shape;
  wShape: Shape;
  yShape: number[];
  outShape: number[];
}

/**
 * 2-D convolution: x [N, C, H, W] (or unbatched [C, H, W]), w [O, C/groups, KH, KW], b [O].
 * Output [N, O, OH, OW] with OH = floor((H + 2p - d(KH-1) - 1)/s) + 1. bfloat16 under autocast.
 * @example conv2d(x, w, b, { padding: 2 }) // LeNet's first layer on 28x28 inputs
 */
export const conv2d = defineOp({
  name: 'conv2d',
  kernel: 'conv2d',
  autocast: 'lower',
  setup: (x: Tensor, w: Tensor, b?: Tensor | null, opts: Conv2dOptions = {}) => {
    const bias = b ?? null;
    if (!(x instanceof Tensor) || !(w instanceof Tensor)) return { inputs: [x, w, bias], params: null as unknown as ConvParams, shape: [] };
    const unbatched = x.ndim === 3;
    if (x.ndim !== 4 && !unbatched) {
      throw new Error(`conv2d: expected a 4-D input [N, C, H, W] (or 3-D [C, H, W]), got ${fmt(x.shape)}`);
    }
    if (w.ndim !== 4) throw new Error(`conv2d: expected a 4-D weight [O, C/groups, KH, KW], got ${fmt(w.shape)}`);
    const xs = unbatched ? [1, ...x.shape] : [...x.shape];
    const [N, C, H, W] = xs as [number, number, number, number];
    const [O, Cg, KH, KW] = w.shape as [number, number, number, number];
    const stride = pair('conv2d', 'stride', opts.stride ?? 1, 1);
    const padding = pair('conv2d', 'padding', opts.padding ?? 0, 0);
    const dilation = pair('conv2d', 'dilation', opts.dilation ?? 1, 1);
    const groups = checkInt('conv2d', 'groups', opts.groups ?? 1, 1);
    const where = `(input ${fmt(x.shape)}, weight ${fmt(w.shape)}${groups > 1 ? `, groups ${groups}` : ''})`;
    if (Cg * groups !== C) throw new Error(`conv2d: input has ${C} channels but weight expects ${Cg * groups} ${where}`);
    if (O % groups !== 0) throw new Error(`conv2d: ${O} output channels are not divisible by groups ${groups} ${where}`);
    if (bias instanceof Tensor && (bias.ndim !== 1 || bias.shape[0] !== O)) {
      throw new Error(`conv2d: bias must have shape [${O}], got ${fmt(bias.shape)} ${where}`);
    }
    const effH = dilation[0] * (KH - 1) + 1;
    const effW = dilation[1] * (KW - 1) + 1;
    if (effH > H + 2 * padding[0] || effW > W + 2 * padding[1]) {
      throw new Error(
        `conv2d: kernel size ${effH}x${effW}${dilation[0] > 1 || dilation[1] > 1 ? ' (dilated)' : ''} is larger than the padded input ` +
          `${H + 2 * padding[0]}x${W + 2 * padding[1]} ${where}`,
      );
    }
    const OH = convOutSize(H, KH, stride[0], padding[0], dilation[0]);
    const OW = convOutSize(W, KW, stride[1], padding[1], dilation[1]);
    const yShape = [N, O, OH, OW];
    const outShape = unbatched ? [O, OH, OW] : yShape;
    const params: ConvParams = { p: { stride, padding, dilation, groups }, xs, xShape: x.shape, wShape: w.shape, yShape, outShape };
    return { inputs: [x, w, bias], params, shape: outShape };
  },
  forward: (k, [x, w, b], c, ctx) => {
    const xs = c.xs.length === c.xShape.length ? (x as Storage) : ctx.tmp(k.reshape(x as Storage, c.xShape, c.xs));
    const y = k.conv2d(xs, c.xs, w as Storage, c.wShape, b as Storage | null, c.p, c.yShape);
    if (c.outShape.length === c.yShape.length) return y;
    return k.reshape(ctx.tmp(y), c.yShape, c.outShape);
  },
  backward: (gy, ctx) => {
    const [x, w, bias] = ctx.inputs as [Tensor, Tensor, Tensor | null];
    const { p, xs, yShape, outShape } = ctx.params;
    const needs = ctx.needs;
    const gk = gy.kernels;
    const unbatched = outShape.length !== yShape.length;
    const O = yShape[1]!;
    const dy = unbatched ? gk.reshape(gy.storage, gy.shape, yShape) : gy.storage;
    const grads: (Tensor | null)[] = [null, null, null];
    try {
      if (needs[0]) {
        // Skipped for the first layer (its input needs no gradient).
        const dx = gk.conv2dBackwardData(dy, yShape, w.storage, w.shape, xs, p);
        grads[0] = unbatched ? ctx.wrap(gk.reshape(dx, xs, x.shape), x.shape) : ctx.wrap(dx, x.shape);
        if (unbatched) gk.dispose(dx);
      }
      if (needs[1]) {
        const xb = unbatched ? gk.reshape(x.storage, x.shape, xs) : x.storage;
        try {
          const r = gk.conv2dBackwardWeights(dy, yShape, xb, xs, w.shape, bias !== null && needs[2]!, p);
          grads[1] = ctx.wrap(r.dw, w.shape);
          if (r.db !== null) grads[2] = ctx.wrap(r.db, [O]);
        } finally {
          if (unbatched) gk.dispose(xb);
        }
      } else if (needs[2]) {
        const g4 = ctx.wrap(gk.reshape(dy, yShape, yShape), yShape);
        grads[2] = reshape(sumTo(g4, [O, 1, 1]), [O]);
      }
    } finally {
      if (unbatched) gk.dispose(dy);
    }
    return grads;
  },
  // dx reads the weight, dw the input; the bias gradient needs only gy.
  saves: (needs) => ({ inputs: [...(needs[1] ? [0] : []), ...(needs[0] ? [1] : [])] }),
  onnx: (g, c) => {
    const [x, w, bias] = g.inputs as [Tensor, Tensor, Tensor | null];
    if (x.ndim !== 4) throw g.fail(`conv2d on a ${x.ndim}-D input ${fmt(x.shape)} cannot be exported (give a batched [N, C, H, W] inputShape)`);
    const { padding: pd, stride, dilation, groups } = c.p;
    const ins = [g.name(x), g.name(w)];
    if (bias !== null) ins.push(g.name(bias));
    return g.node('Conv', ins, {
      kernel_shape: attr.ints(w.shape.slice(2)),
      strides: attr.ints(stride),
      pads: attr.ints([pd[0], pd[1], pd[0], pd[1]]),
      dilations: attr.ints(dilation),
      group: attr.int(groups),
    });
  },
  // Each output element is a dot product of length C/groups * KH * KW.
  flops: (c) => 2 * numel(c.yShape) * numel(c.wShape.slice(1)),
});
