/**
 * 2-D pooling over NCHW inputs (or unbatched CHW): max, average and adaptive average, with
 * PyTorch's floor output rule and its padding check (padding <= kernel / 2).
 */
import type { Kernels, Pool2dParams, Shape, Storage } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt, numel } from '../tensor/shape.js';
import { pair } from '../tensor/args.js';
import { defineOp, type ForwardContext } from './op.js';
import { attr, type OnnxLowering } from './onnx-api.js';
import type { Size2 } from './conv.js';

/** Options of `maxPool2d` / `avgPool2d` (stride defaults to the kernel size). */
export interface Pool2dOptions {
  kernelSize: Size2;
  stride?: Size2 | null;
  padding?: Size2;
  /** Only `false` (PyTorch's default) is supported. */
  ceilMode?: boolean;
}

/** Options of `avgPool2d`. */
export interface AvgPool2dOptions extends Pool2dOptions {
  /** Count the zero padding in the divisor (default true, as PyTorch). */
  countIncludePad?: boolean;
}

/** `kernelSize` alone, the options, or both (`maxPool2d(x, 3, { stride: 2 })`). */
function poolOpts<T extends Pool2dOptions>(kernelOrOpts: Size2 | T, more?: Omit<T, 'kernelSize'>): T {
  if (typeof kernelOrOpts === 'number' || Array.isArray(kernelOrOpts)) {
    return { ...(more ?? {}), kernelSize: kernelOrOpts as Size2 } as T;
  }
  return { ...(kernelOrOpts as T), ...(more ?? {}) };
}

/** Shape as [N, C, H, W] (unbatched inputs get N = 1); throws naming `op`. */
function nchw(op: string, x: Tensor): number[] {
  if (!(x instanceof Tensor)) throw new Error(`${op}: expected a Tensor, got ${x === null ? 'null' : typeof x}`);
  if (x.ndim === 4) return [...x.shape];
  if (x.ndim === 3) return [1, ...x.shape];
  throw new Error(`${op}: expected a 4-D input [N, C, H, W] (or 3-D [C, H, W]), got ${fmt(x.shape)}`);
}

function poolParams(op: string, shape4: Shape, x: Tensor, o: AvgPool2dOptions): Pool2dParams {
  if (o.kernelSize === undefined) throw new Error(`${op}: kernelSize is required`);
  const kernel = pair(op, 'kernelSize', o.kernelSize, 1);
  const stride = o.stride === undefined || o.stride === null ? kernel : pair(op, 'stride', o.stride, 1);
  const padding = pair(op, 'padding', o.padding ?? 0, 0);
  if (o.ceilMode) throw new Error(`${op}: ceilMode is not supported (use padding instead)`);
  if (padding[0] > kernel[0] / 2 || padding[1] > kernel[1] / 2) {
    throw new Error(
      `${op}: padding should be at most half of the kernel size, got padding ${fmt(padding)} and kernel ${fmt(kernel)} (input ${fmt(x.shape)})`,
    );
  }
  const [H, W] = [shape4[2]!, shape4[3]!];
  const out: [number, number] = [
    Math.floor((H + 2 * padding[0] - kernel[0]) / stride[0]) + 1,
    Math.floor((W + 2 * padding[1] - kernel[1]) / stride[1]) + 1,
  ];
  if (out[0] < 1 || out[1] < 1) {
    throw new Error(
      `${op}: output size ${out[0]}x${out[1]} is too small for input ${fmt(x.shape)} with kernel ${fmt(kernel)}, stride ${fmt(stride)} and padding ${fmt(padding)}`,
    );
  }
  return { kernel, stride, padding, countIncludePad: o.countIncludePad ?? true, out };
}

interface Pool4 {
  p: Pool2dParams;
  /** Input as 4-D (unbatched inputs get N = 1) and its real shape. */
  shape4: number[];
  xShape: Shape;
  yShape4: number[];
  outShape: number[];
}

/** The 4-D geometry of a pooling call on `x`. */
function pool4(x: Tensor, shape4: number[], p: Pool2dParams): Pool4 {
  const yShape4 = [shape4[0]!, shape4[1]!, p.out[0], p.out[1]];
  return { p, shape4, xShape: x.shape, yShape4, outShape: x.ndim === 3 ? yShape4.slice(1) : yShape4 };
}

/** x's storage viewed as 4-D (a temporary view for unbatched inputs). */
function in4(k: Kernels, x: Storage, g: Pool4, c: ForwardContext): Storage {
  return g.xShape.length === 4 ? x : c.tmp(k.reshape(x, g.xShape, g.shape4));
}

/** A 4-D kernel result as a storage of the op's output shape. */
function out4(k: Kernels, y: Storage, g: Pool4, c: ForwardContext): Storage {
  return g.outShape.length === 4 ? y : k.reshape(c.tmp(y), g.yShape4, g.outShape);
}

/** dx (of x's shape) from a backward kernel that works on 4-D storages. */
function grad4(gy: Tensor, g: Pool4, wrap: (s: Storage, shape: Shape) => Tensor, fn: (dy: Storage) => Storage): Tensor {
  const gk = gy.kernels;
  const unbatched = g.xShape.length === 3;
  const dy = unbatched ? gk.reshape(gy.storage, gy.shape, g.yShape4) : gy.storage;
  try {
    const dx = fn(dy);
    if (!unbatched) return wrap(dx, g.xShape);
    const r = wrap(gk.reshape(dx, g.shape4, g.xShape), g.xShape);
    gk.dispose(dx);
    return r;
  } finally {
    if (unbatched) gk.dispose(dy);
  }
}

/** Batched 4-D inputs only (ONNX pooling nodes take [N, C, H, W]). */
function need4d(g: OnnxLowering, op: string): Tensor {
  const x = g.inputs[0] as Tensor;
  if (x.ndim !== 4) throw g.fail(`${op} on a ${x.ndim}-D input ${fmt(x.shape)} cannot be exported (give a batched [N, C, H, W] inputShape)`);
  return x;
}

const maxPool2dOp = defineOp({
  name: 'maxPool2d',
  kernel: 'maxPool2d',
  setup: (x: Tensor, o: Pool2dOptions) => {
    const shape4 = nchw('maxPool2d', x);
    const g = pool4(x, shape4, poolParams('maxPool2d', shape4, x, o));
    return { inputs: [x], params: g, shape: g.outShape };
  },
  forward: (k, [x], g, c) => {
    const r = k.maxPool2d(in4(k, x as Storage, g, c), g.shape4, g.p);
    return { y: out4(k, r.y, g, c), saved: r.workspace === null ? [] : [r.workspace] };
  },
  backward: (gy, c) => {
    const g = c.params;
    const gk = gy.kernels;
    const x = c.inputs[0] as Tensor;
    const unbatched = g.xShape.length === 3;
    const xs = unbatched ? gk.reshape(x.storage, x.shape, g.shape4) : x.storage;
    const ys = unbatched ? gk.reshape(c.out.storage, c.out.shape, g.yShape4) : c.out.storage;
    try {
      return [grad4(gy, g, c.wrap, (dy) => gk.maxPool2dBackward(dy, xs, ys, c.saved[0] ?? null, g.shape4, g.p))];
    } finally {
      if (unbatched) {
        gk.dispose(xs);
        gk.dispose(ys);
      }
    }
  },
  saves: () => ({ inputs: [0], output: true }),
  onnx: (g, { p }) => {
    const x = need4d(g, 'maxPool2d');
    const pd = p.padding;
    return g.node('MaxPool', [g.name(x)], { kernel_shape: attr.ints(p.kernel), strides: attr.ints(p.stride), pads: attr.ints([pd[0], pd[1], pd[0], pd[1]]) });
  },
  flops: (g) => numel(g.yShape4) * g.p.kernel[0] * g.p.kernel[1],
});

/**
 * Max pooling (padding counts as -inf); the gradient goes to the chosen element of each window.
 * @example maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }) // ResNet's stem
 * @example maxPool2d(x, 2)
 */
export function maxPool2d(x: Tensor, kernelOrOpts: Size2 | Pool2dOptions, more?: Omit<Pool2dOptions, 'kernelSize'>): Tensor {
  return maxPool2dOp(x, poolOpts(kernelOrOpts, more));
}

const avgPool2dOp = defineOp({
  name: 'avgPool2d',
  kernel: 'avgPool2d',
  setup: (x: Tensor, o: AvgPool2dOptions) => {
    const shape4 = nchw('avgPool2d', x);
    const g = pool4(x, shape4, poolParams('avgPool2d', shape4, x, o));
    return { inputs: [x], params: g, shape: g.outShape };
  },
  forward: (k, [x], g, c) => out4(k, k.avgPool2d(in4(k, x as Storage, g, c), g.shape4, g.p), g, c),
  backward: (gy, c) => [grad4(gy, c.params, c.wrap, (dy) => gy.kernels.avgPool2dBackward(dy, c.params.shape4, c.params.p))],
  saves: () => ({ inputs: [] }),
  onnx: (g, { p }) => {
    const x = need4d(g, 'avgPool2d');
    const pd = p.padding;
    return g.node('AveragePool', [g.name(x)], {
      kernel_shape: attr.ints(p.kernel),
      strides: attr.ints(p.stride),
      pads: attr.ints([pd[0], pd[1], pd[0], pd[1]]),
      count_include_pad: attr.int(p.countIncludePad ? 1 : 0),
    });
  },
  flops: (g) => numel(g.yShape4) * g.p.kernel[0] * g.p.kernel[1],
});

/**
 * Average pooling; `countIncludePad` (default true) divides by the full window size.
 * @example avgPool2d(x, { kernelSize: 2, stride: 2 }) // DenseNet's transition block
 */
export function avgPool2d(x: Tensor, kernelOrOpts: Size2 | AvgPool2dOptions, more?: Omit<AvgPool2dOptions, 'kernelSize'>): Tensor {
  return avgPool2dOp(x, poolOpts(kernelOrOpts, more));
}

/**
 * Adaptive average pooling to `outputSize` ([OH, OW], a number for both, or null to keep a dim),
 * with PyTorch's bins (start floor(i*H/OH), end ceil((i+1)*H/OH)).
 * @example adaptiveAvgPool2d(x, 1) // global average pooling: [N, C, 1, 1]
 */
export const adaptiveAvgPool2d = defineOp({
  name: 'adaptiveAvgPool2d',
  kernel: 'adaptiveAvgPool2d',
  setup: (x: Tensor, outputSize: number | readonly [number | null, number | null]) => {
    const shape4 = nchw('adaptiveAvgPool2d', x);
    let o: [number | null, number | null];
    if (typeof outputSize === 'number') o = [outputSize, outputSize];
    else if (Array.isArray(outputSize) && outputSize.length === 2) o = [outputSize[0], outputSize[1]];
    else throw new Error(`adaptiveAvgPool2d: outputSize must be a number or a pair, got ${JSON.stringify(outputSize)}`);
    const out = pair('adaptiveAvgPool2d', 'outputSize', [o[0] ?? shape4[2]!, o[1] ?? shape4[3]!], 1);
    if (shape4[2] === 0 || shape4[3] === 0) throw new Error(`adaptiveAvgPool2d: input ${fmt(x.shape)} has an empty spatial dim`);
    const g = pool4(x, shape4, { kernel: [1, 1], stride: [1, 1], padding: [0, 0], countIncludePad: true, out });
    return { inputs: [x], params: g, shape: g.outShape };
  },
  forward: (k, [x], g, c) => out4(k, k.adaptiveAvgPool2d(in4(k, x as Storage, g, c), g.shape4, g.p.out), g, c),
  backward: (gy, c) => [grad4(gy, c.params, c.wrap, (dy) => gy.kernels.adaptiveAvgPool2dBackward(dy, c.params.shape4, c.params.p.out))],
  saves: () => ({ inputs: [] }),
  onnx: (g, { shape4, p }) => {
    const x = need4d(g, 'adaptiveAvgPool2d');
    const [H, W] = [shape4[2]!, shape4[3]!];
    const [OH, OW] = p.out;
    if (OH === 1 && OW === 1) return g.node('GlobalAveragePool', [g.name(x)]);
    if (H % OH !== 0 || W % OW !== 0) {
      throw g.fail(`adaptiveAvgPool2d from ${H}x${W} to ${OH}x${OW} has uneven bins and cannot be exported as AveragePool (use an input size divisible by the output size)`);
    }
    const kk = [H / OH, W / OW];
    return g.node('AveragePool', [g.name(x)], { kernel_shape: attr.ints(kk), strides: attr.ints(kk) });
  },
  // One add per input element.
  flops: (g) => numel(g.shape4),
});
