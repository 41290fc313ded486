/** `Linear` and `LazyLinear`. */
import type { Tensor } from '../../tensor/tensor.js';
import { linear } from '../../ops/index.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import { expectInput, materializeWeightAndBias, positiveInt, resetWeightAndBias } from './util.js';

/** Options of `Linear` / `LazyLinear`. */
export interface LinearOptions {
  /** Learnable bias (default true). */
  bias?: boolean;
}

/**
 * Fully connected layer `y = x Wᵀ + b` over the last dimension, as `nn.Linear`: weight
 * `[out, in]`, bias `[out]`, PyTorch's default init (U(±1/√in) for both).
 * @example new nn.Linear(120, 84).call(cn.randn([128, 120])) // [128, 84]
 */
export class Linear extends Module {
  /** Input features (fixed on the first call for `LazyLinear`; 0 until then). */
  inFeatures: number;
  /** Output features. */
  readonly outFeatures: number;
  /** `[out, in]`. */
  weight: Parameter;
  /** `[out]`, or null with `{ bias: false }`. */
  bias: Parameter | null;

  /** @param inFeatures input features; `null` makes the layer lazy (prefer `LazyLinear`). */
  constructor(inFeatures: number | null, outFeatures: number, opts: LinearOptions = {}) {
    super();
    const name = inFeatures === null ? 'LazyLinear' : 'Linear';
    this.outFeatures = positiveInt(outFeatures, 'outFeatures', name);
    const hasBias = opts.bias ?? true;
    if (inFeatures === null) {
      this.inFeatures = 0;
      this.weight = Parameter.uninitialized(`${name}(out=${outFeatures}).weight`);
      this.bias = hasBias ? Parameter.uninitialized(`${name}(out=${outFeatures}).bias`) : null;
      const remove = this.registerForwardPreHook((_m, xs) => {
        this.#materialize(xs[0]!);
        remove();
      });
    } else {
      this.inFeatures = positiveInt(inFeatures, 'inFeatures', name);
      this.weight = Parameter.staged([outFeatures, inFeatures], 'Linear.weight');
      this.bias = hasBias ? Parameter.staged([outFeatures], 'Linear.bias') : null;
      this.resetParameters();
      this.weight.flush();
      this.bias?.flush();
    }
  }

  #name(): string {
    return `${this.constructor.name}(in=${this.inFeatures === 0 ? '?' : this.inFeatures}, out=${this.outFeatures})`;
  }

  #materialize(x: Tensor): void {
    if (this.weight.isMaterialized) {
      this.inFeatures = this.weight.shape[1]!;
      return;
    }
    expectInput(x.ndim >= 1, this.#name(), 'expected an input with at least 1 dimension', x);
    const f = x.shape[x.ndim - 1]!;
    expectInput(f > 0, this.#name(), 'input has 0 features', x);
    this.inFeatures = f;
    materializeWeightAndBias(this.weight, this.bias, [this.outFeatures, f], x.kernels, () => this.resetParameters());
  }

  /** PyTorch's default init: weight kaiming_uniform(a=√5), bias U(±1/√in). */
  resetParameters(): void {
    resetWeightAndBias(this.weight, this.bias);
  }

  override forward(x: Tensor): Tensor {
    expectInput(x.ndim >= 1, this.#name(), 'expected an input with at least 1 dimension', x);
    const f = x.shape[x.ndim - 1]!;
    expectInput(f === this.inFeatures, this.#name(), `input has ${f} features`, x);
    const b = this.bias ?? undefined;
    if (x.ndim === 2) return linear(x, this.weight, b);
    // Any leading dimensions, as PyTorch: fold them into the batch.
    const lead = x.shape.slice(0, -1);
    const y = linear(x.reshape([-1, f]), this.weight, b);
    return y.reshape([...lead, this.outFeatures]);
  }

  override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}

/**
 * A `Linear` whose input size is fixed by the first call (as `nn.LazyLinear`); an `instanceof
 * Linear`. Inits applied while lazy run at materialization.
 * @example new nn.LazyLinear(4096)
 */
export class LazyLinear extends Linear {
  constructor(outFeatures: number, opts: LinearOptions = {}) {
    super(null, outFeatures, opts);
  }
}
