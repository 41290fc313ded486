/** Pooling layers: `MaxPool2d`, `AvgPool2d`, `AdaptiveAvgPool2d`. */
import type { Tensor } from '../../tensor/tensor.js';
import { adaptiveAvgPool2d, avgPool2d, maxPool2d } from '../../ops/index.js';
import { Module } from '../module.js';
import { expectInput, pair, showPair, type IntPair } from './util.js';

/** Options of `MaxPool2d` / `AvgPool2d` (ints or `[h, w]` pairs). */
export interface Pool2dOptions {
  /** Window size (required unless given positionally). */
  kernelSize?: IntPair;
  /** Default: the kernel size (PyTorch's default). */
  stride?: IntPair;
  /** Implicit padding on each side, default 0 (at most half the kernel). */
  padding?: IntPair;
}

/** Options of `AvgPool2d`. */
export interface AvgPool2dOptions extends Pool2dOptions {
  /** Count padded zeros in the divisor (default true, as PyTorch). */
  countIncludePad?: boolean;
}

function parse(layer: string, k: IntPair | Pool2dOptions, opts: Pool2dOptions | undefined) {
  const o: Pool2dOptions = typeof k === 'number' || Array.isArray(k) ? { ...opts, kernelSize: k as IntPair } : { ...(k as Pool2dOptions), ...opts };
  if (o.kernelSize === undefined) throw new Error(`${layer}: kernelSize is required`);
  const kernelSize = pair(layer, 'kernelSize', o.kernelSize, 1);
  const stride = o.stride === undefined || o.stride === null ? kernelSize : pair(layer, 'stride', o.stride, 1);
  const padding = pair(layer, 'padding', o.padding ?? 0, 0);
  if (padding[0] * 2 > kernelSize[0] || padding[1] * 2 > kernelSize[1]) {
    throw new Error(`${layer}: padding ${showPair(padding)} should be at most half the kernel size ${showPair(kernelSize)}`);
  }
  return { kernelSize, stride, padding };
}

function check4d(layer: string, x: Tensor, k: [number, number], p: [number, number]): void {
  expectInput(x.ndim === 4, layer, 'expected a 4-D input [N, C, H, W]', x);
  const h = x.shape[2]! + 2 * p[0];
  const w = x.shape[3]! + 2 * p[1];
  expectInput(h >= k[0] && w >= k[1], layer, `the ${k[0]}x${k[1]} window does not fit the padded ${h}x${w} input`, x);
}

/**
 * Max pooling over `[N, C, H, W]`, as `nn.MaxPool2d` (stride defaults to the kernel size).
 * @example new nn.MaxPool2d({ kernelSize: 3, stride: 2 })
 * @example new nn.MaxPool2d(3, { stride: 2 }) // positional kernel size
 */
export class MaxPool2d extends Module {
  /** Window `[kh, kw]`. */
  readonly kernelSize: [number, number];
  /** `[sh, sw]` (default: the window). */
  readonly stride: [number, number];
  /** Implicit padding `[ph, pw]` on each side. */
  readonly padding: [number, number];

  constructor(kernelSize: IntPair | Pool2dOptions, opts?: Pool2dOptions) {
    super();
    ({ kernelSize: this.kernelSize, stride: this.stride, padding: this.padding } = parse('MaxPool2d', kernelSize, opts));
  }

  override forward(x: Tensor): Tensor {
    check4d(`MaxPool2d(k=${showPair(this.kernelSize)}, s=${showPair(this.stride)})`, x, this.kernelSize, this.padding);
    return maxPool2d(x, { kernelSize: this.kernelSize, stride: this.stride, padding: this.padding });
  }

  override extraRepr(): string {
    return `kernelSize=${showPair(this.kernelSize)}, stride=${showPair(this.stride)}, padding=${showPair(this.padding)}`;
  }
}

/**
 * Average pooling over `[N, C, H, W]`, as `nn.AvgPool2d`.
 * @example new nn.AvgPool2d({ kernelSize: 2, stride: 2 })
 * @example new nn.AvgPool2d(2) // stride 2 as well
 */
export class AvgPool2d extends Module {
  /** Window `[kh, kw]`. */
  readonly kernelSize: [number, number];
  /** `[sh, sw]` (default: the window). */
  readonly stride: [number, number];
  /** Implicit padding `[ph, pw]` on each side. */
  readonly padding: [number, number];
  /** Whether padded zeros count in the divisor. */
  readonly countIncludePad: boolean;

  constructor(kernelSize: IntPair | AvgPool2dOptions, opts?: AvgPool2dOptions) {
    super();
    ({ kernelSize: this.kernelSize, stride: this.stride, padding: this.padding } = parse('AvgPool2d', kernelSize, opts));
    const o = { ...(typeof kernelSize === 'object' && !Array.isArray(kernelSize) ? (kernelSize as AvgPool2dOptions) : {}), ...opts };
    this.countIncludePad = o.countIncludePad ?? true;
  }

  override forward(x: Tensor): Tensor {
    check4d(`AvgPool2d(k=${showPair(this.kernelSize)}, s=${showPair(this.stride)})`, x, this.kernelSize, this.padding);
    return avgPool2d(x, {
      kernelSize: this.kernelSize,
      stride: this.stride,
      padding: this.padding,
      countIncludePad: this.countIncludePad,
    });
  }

  override extraRepr(): string {
    return `kernelSize=${showPair(this.kernelSize)}, stride=${showPair(this.stride)}, padding=${showPair(this.padding)}`;
  }
}

/**
 * Average pooling to a fixed output size, as `nn.AdaptiveAvgPool2d` (NiN's and DenseNet's global
 * average pooling is `new AdaptiveAvgPool2d(1)`).
 * @example new nn.AdaptiveAvgPool2d([1, 1])
 */
export class AdaptiveAvgPool2d extends Module {
  /** Output `[oh, ow]`. */
  readonly outputSize: [number, number];

  constructor(outputSize: IntPair) {
    super();
    this.outputSize = pair('AdaptiveAvgPool2d', 'outputSize', outputSize, 1);
  }

  override forward(x: Tensor): Tensor {
    expectInput(x.ndim === 4, `AdaptiveAvgPool2d(${showPair(this.outputSize)})`, 'expected a 4-D input [N, C, H, W]', x);
    return adaptiveAvgPool2d(x, this.outputSize);
  }

  override extraRepr(): string {
    return `outputSize=${showPair(this.outputSize)}`;
  }
}
