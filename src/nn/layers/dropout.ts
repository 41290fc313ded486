/** `Dropout`. */
import type { Tensor } from '../../tensor/tensor.js';
import { dropout } from '../../ops/index.js';
import { Module } from '../module.js';

/**
 * Zeroes each element with probability `p` and scales the rest by 1/(1-p) in training mode; the
 * identity in evaluation mode (as `nn.Dropout`). Random numbers come from the default generator
 * (seed it with `manualSeed`).
 * @example new nn.Dropout(0.5)
 */
export class Dropout extends Module {
  /** Probability of zeroing an element. */
  readonly p: number;

  constructor(p = 0.5) {
    super();
    if (!(typeof p === 'number' && p >= 0 && p <= 1)) throw new Error(`Dropout: p must be in [0, 1], got ${String(p)}`);
    this.p = p;
  }

  override forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    return dropout(x, { p: this.p, training: true });
  }

  override extraRepr(): string {
    return `p=${this.p}`;
  }
}
