/**
 * 2-D pooling over NCHW inputs (or unbatched CHW): max, average and adaptive average, with
 * PyTorch's floor output rule and its padding check (padding <= kernel / 2).
 */
import type { Pool2dParams, Shape, Storage } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import { checkFloat, pair, record, reshapeOwned, sameBackend, wrap } from './util.js';
import type { Size2 } from './conv.js';
import { traceOp, tracing } from './trace.js';

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

/** Runs `fn` on x's storage viewed as 4-D, and returns y as a tensor of x's rank. */
function run4(x: Tensor, shape4: Shape, yShape4: Shape, fn: (s: Storage) => Storage): Tensor {
  const k = x.kernels;
  const unbatched = x.ndim === 3;
  const s = unbatched ? k.reshape(x.storage, x.shape, shape4, 'float32') : x.storage;
  let y: Storage;
  try {
    y = fn(s);
  } finally {
    if (unbatched) k.dispose(s);
  }
  const outShape = unbatched ? yShape4.slice(1) : [...yShape4];
  return wrap(k, reshapeOwned(k, y, yShape4, outShape, 'float32'), outShape);
}

/** dx (of x's shape) from a backward kernel that works on 4-D storages. */
function grad4(gy: Tensor, x: Tensor, shape4: Shape, yShape4: Shape, fn: (dy: Storage) => Storage): Tensor {
  const gk = gy.kernels;
  const unbatched = x.ndim === 3;
  const dy = unbatched ? gk.reshape(gy.storage, gy.shape, yShape4, 'float32') : gy.storage;
  try {
    return wrap(gk, reshapeOwned(gk, fn(dy), shape4, x.shape, 'float32'), x.shape);
  } finally {
    if (unbatched) gk.dispose(dy);
  }
}

/**
 * Max pooling (padding counts as -inf); the gradient goes to the chosen element of each window.
 * @example maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }) // ResNet's stem
 * @example maxPool2d(x, 2)
 */
export function maxPool2d(x: Tensor, kernelOrOpts: Size2 | Pool2dOptions, more?: Omit<Pool2dOptions, 'kernelSize'>): Tensor {
  const k = sameBackend('maxPool2d', x);
  checkFloat('maxPool2d', x);
  const shape4 = nchw('maxPool2d', x);
  const p = poolParams('maxPool2d', shape4, x, poolOpts(kernelOrOpts, more));
  const yShape4 = [shape4[0]!, shape4[1]!, p.out[0], p.out[1]];
  let workspace: Storage | null = null;
  const out = run4(x, shape4, yShape4, (s) => {
    const r = k.maxPool2d(s, shape4, p);
    workspace = r.workspace;
    return r.y;
  });
  const ws = workspace as Storage | null;
  // The workspace is backend-private (opaque); wrapping it only lets the graph node free it.
  const owned = ws === null ? [] : [wrap(k, ws, yShape4, 'int32')];
  if (tracing.tracer !== null) traceOp('maxPool2d', [x], out, { kernel: p.kernel, stride: p.stride, padding: p.padding });
  return record(
    'maxPool2d',
    [x],
    out,
    (gy) => {
      const gk = gy.kernels;
      const unbatched = x.ndim === 3;
      const xs = unbatched ? gk.reshape(x.storage, x.shape, shape4, 'float32') : x.storage;
      const ys = unbatched ? gk.reshape(out.storage, out.shape, yShape4, 'float32') : out.storage;
      try {
        return [grad4(gy, x, shape4, yShape4, (dy) => gk.maxPool2dBackward(dy, xs, ys, ws, shape4, p))];
      } finally {
        if (unbatched) {
          gk.dispose(xs);
          gk.dispose(ys);
        }
      }
    },
    owned,
  );
}

/**
 * Average pooling; `countIncludePad` (default true) divides by the full window size.
 * @example avgPool2d(x, { kernelSize: 2, stride: 2 }) // DenseNet's transition block
 */
export function avgPool2d(x: Tensor, kernelOrOpts: Size2 | AvgPool2dOptions, more?: Omit<AvgPool2dOptions, 'kernelSize'>): Tensor {
  const k = sameBackend('avgPool2d', x);
  checkFloat('avgPool2d', x);
  const shape4 = nchw('avgPool2d', x);
  const p = poolParams('avgPool2d', shape4, x, poolOpts(kernelOrOpts, more));
  const yShape4 = [shape4[0]!, shape4[1]!, p.out[0], p.out[1]];
  const out = run4(x, shape4, yShape4, (s) => k.avgPool2d(s, shape4, p));
  if (tracing.tracer !== null) {
    traceOp('avgPool2d', [x], out, { kernel: p.kernel, stride: p.stride, padding: p.padding, countIncludePad: p.countIncludePad });
  }
  return record('avgPool2d', [x], out, (gy) => [
    grad4(gy, x, shape4, yShape4, (dy) => gy.kernels.avgPool2dBackward(dy, shape4, p)),
  ]);
}

/**
 * Adaptive average pooling to `outputSize` ([OH, OW], a number for both, or null to keep a dim),
 * with PyTorch's bins (start floor(i*H/OH), end ceil((i+1)*H/OH)).
 * @example adaptiveAvgPool2d(x, 1) // global average pooling: [N, C, 1, 1]
 */
export function adaptiveAvgPool2d(x: Tensor, outputSize: number | readonly [number | null, number | null]): Tensor {
  const k = sameBackend('adaptiveAvgPool2d', x);
  checkFloat('adaptiveAvgPool2d', x);
  const shape4 = nchw('adaptiveAvgPool2d', x);
  let o: [number | null, number | null];
  if (typeof outputSize === 'number') o = [outputSize, outputSize];
  else if (Array.isArray(outputSize) && outputSize.length === 2) o = [outputSize[0], outputSize[1]];
  else throw new Error(`adaptiveAvgPool2d: outputSize must be a number or a pair, got ${JSON.stringify(outputSize)}`);
  const out2 = pair('adaptiveAvgPool2d', 'outputSize', [o[0] ?? shape4[2]!, o[1] ?? shape4[3]!], 1);
  if (shape4[2] === 0 || shape4[3] === 0) throw new Error(`adaptiveAvgPool2d: input ${fmt(x.shape)} has an empty spatial dim`);
  const yShape4 = [shape4[0]!, shape4[1]!, out2[0], out2[1]];
  const out = run4(x, shape4, yShape4, (s) => k.adaptiveAvgPool2d(s, shape4, out2));
  if (tracing.tracer !== null) traceOp('adaptiveAvgPool2d', [x], out, { outputSize: out2 });
  return record('adaptiveAvgPool2d', [x], out, (gy) => [
    grad4(gy, x, shape4, yShape4, (dy) => gy.kernels.adaptiveAvgPool2dBackward(dy, shape4, out2)),
  ]);
}
