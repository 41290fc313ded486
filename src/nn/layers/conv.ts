/** `Conv2d` and `LazyConv2d`. */
import type { Tensor } from '../../tensor/tensor.js';
import { conv2d } from '../../ops/index.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import { expectInput, materializeWeightAndBias, pair, positiveInt, resetWeightAndBias, showPair, type IntPair } from './util.js';

/** Options of `Conv2d` / `LazyConv2d` (ints or `[h, w]` pairs, PyTorch's defaults). */
export interface Conv2dOptions {
  /** Window size (required unless given positionally). */
  kernelSize?: IntPair;
  /** Default 1. */
  stride?: IntPair;
  /** Zero padding on each side, default 0. */
  padding?: IntPair;
  /** Default 1. */
  dilation?: IntPair;
  /** Default 1; inChannels and outChannels must be divisible by it. */
  groups?: number;
  /** Learnable bias (default true). */
  bias?: boolean;
}

function splitArgs(layer: string, k: IntPair | Conv2dOptions | undefined, opts: Conv2dOptions | undefined): Conv2dOptions & { kernelSize: IntPair } {
  const o: Conv2dOptions = typeof k === 'number' || Array.isArray(k) ? { ...opts, kernelSize: k as IntPair } : { ...(k as Conv2dOptions | undefined), ...opts };
  if (o.kernelSize === undefined) throw new Error(`${layer}: kernelSize is required`);
  return o as Conv2dOptions & { kernelSize: IntPair };
}

/**
 * 2-D convolution over `[N, C, H, W]` inputs, as `nn.Conv2d`: weight `[out, in/groups, kh, kw]`,
 * bias `[out]`, both initialized like PyTorch (kaiming_uniform(a=√5), i.e. U(±1/√fanIn)).
 * @example new nn.Conv2d(1, 6, { kernelSize: 5, padding: 2 })
 * @example new nn.Conv2d(3, 64, 3, { padding: 1 }) // kernel size positionally
 */
export class Conv2d extends Module {
  /** Input channels (fixed on the first call for `LazyConv2d`; 0 until then). */
  inChannels: number;
  /** Output channels. */
  readonly outChannels: number;
  /** Window `[kh, kw]`. */
  readonly kernelSize: [number, number];
  /** `[sh, sw]`. */
  readonly stride: [number, number];
  /** Zero padding `[ph, pw]` on each side. */
  readonly padding: [number, number];
  /** `[dh, dw]`. */
  readonly dilation: [number, number];
  /** Channel groups. */
  readonly groups: number;
  /** `[out, in/groups, kh, kw]`. */
  weight: Parameter;
  /** `[out]`, or null with `{ bias: false }`. */
  bias: Parameter | null;

  /**
   * @param inChannels input channels; `null` makes the layer lazy (prefer `LazyConv2d`).
   * @param kernelSize an int/pair, or the options object (then `kernelSize` is one of its fields).
   */
  constructor(inChannels: number | null, outChannels: number, kernelSize: IntPair | Conv2dOptions, opts?: Conv2dOptions) {
    super();
    const name = inChannels === null ? 'LazyConv2d' : 'Conv2d';
    const o = splitArgs(name, kernelSize, opts);
    this.outChannels = positiveInt(outChannels, 'outChannels', name);
    this.kernelSize = pair(name, 'kernelSize', o.kernelSize, 1);
    this.stride = pair(name, 'stride', o.stride ?? 1, 1);
    this.padding = pair(name, 'padding', o.padding ?? 0, 0);
    this.dilation = pair(name, 'dilation', o.dilation ?? 1, 1);
    this.groups = positiveInt(o.groups ?? 1, 'groups', name);
    if (outChannels % this.groups !== 0) throw new Error(`${name}: outChannels ${outChannels} is not divisible by groups ${this.groups}`);
    const hasBias = o.bias ?? true;
    if (inChannels === null) {
      this.inChannels = 0;
      this.weight = Parameter.uninitialized(`${name}(out=${outChannels}).weight`);
      this.bias = hasBias ? Parameter.uninitialized(`${name}(out=${outChannels}).bias`) : null;
      const remove = this.registerForwardPreHook((_m, xs) => {
        this.#materialize(xs[0]!);
        remove();
      });
    } else {
      this.inChannels = positiveInt(inChannels, 'inChannels', name);
      this.#checkGroups(this.inChannels);
      this.weight = Parameter.staged([outChannels, inChannels / this.groups, ...this.kernelSize], 'Conv2d.weight');
      this.bias = hasBias ? Parameter.staged([outChannels], 'Conv2d.bias') : null;
      this.resetParameters();
      this.weight.flush();
      this.bias?.flush();
    }
  }

  #checkGroups(inChannels: number): void {
    if (inChannels % this.groups !== 0) {
      throw new Error(`${this.#name()}: inChannels ${inChannels} is not divisible by groups ${this.groups}`);
    }
  }

  #name(): string {
    return `${this.constructor.name}(in=${this.inChannels === 0 ? '?' : this.inChannels}, out=${this.outChannels}, k=${showPair(this.kernelSize)})`;
  }

  #materialize(x: Tensor): void {
    if (this.weight.isMaterialized) {
      // Loaded from a state dict before the first call.
      this.inChannels = this.weight.shape[1]! * this.groups;
      return;
    }
    expectInput(x.ndim === 4 || x.ndim === 3, this.#name(), 'expected a 4-D input [N, C, H, W] (or 3-D [C, H, W])', x);
    const c = x.shape[x.ndim - 3]!;
    this.#checkGroups(c);
    this.inChannels = c;
    materializeWeightAndBias(this.weight, this.bias, [this.outChannels, c / this.groups, ...this.kernelSize], x.kernels, () => this.resetParameters());
  }

  /** PyTorch's default init: weight kaiming_uniform(a=√5), bias U(±1/√fanIn). */
  resetParameters(): void {
    resetWeightAndBias(this.weight, this.bias);
  }

  override forward(x: Tensor): Tensor {
    expectInput(x.ndim === 4 || x.ndim === 3, this.#name(), 'expected a 4-D input [N, C, H, W] (or 3-D [C, H, W])', x);
    const c = x.shape[x.ndim - 3]!;
    expectInput(c === this.inChannels, this.#name(), `input has ${c} channels, expected ${this.inChannels}`, x);
    return conv2d(x, this.weight, this.bias ?? undefined, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
    });
  }

  override extraRepr(): string {
    let s = `${this.inChannels === 0 ? 0 : this.inChannels}, ${this.outChannels}, kernelSize=${showPair(this.kernelSize)}`;
    if (this.stride[0] !== 1 || this.stride[1] !== 1) s += `, stride=${showPair(this.stride)}`;
    if (this.padding[0] !== 0 || this.padding[1] !== 0) s += `, padding=${showPair(this.padding)}`;
    if (this.dilation[0] !== 1 || this.dilation[1] !== 1) s += `, dilation=${showPair(this.dilation)}`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (this.bias === null) s += ', bias=false';
    return s;
  }
}

/**
 * A `Conv2d` whose input channels are fixed by the first call (as `nn.LazyConv2d`). Its parameters
 * are uninitialized until then; inits applied meanwhile (e.g. `net.apply(nn.xavierInitCnn)`) run right
 * after the default init at materialization. It is an `instanceof Conv2d`.
 * @example new nn.LazyConv2d(96, { kernelSize: 11, stride: 4, padding: 1 })
 * @example new nn.LazyConv2d(96, 11, { stride: 4, padding: 1 }) // positional kernel size
 */
export class LazyConv2d extends Conv2d {
  constructor(outChannels: number, kernelSize: IntPair | Conv2dOptions, opts?: Conv2dOptions) {
    super(null, outChannels, kernelSize, opts);
  }
}
