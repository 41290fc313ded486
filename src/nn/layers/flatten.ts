/** `Flatten`. */
import type { Tensor } from '../../tensor/tensor.js';
import { flatten } from '../../ops/index.js';
import { Module } from '../module.js';

/** Options of `Flatten`. */
export interface FlattenOptions {
  /** First dimension to flatten (default 1: keep the batch). */
  startDim?: number;
  /** Last dimension to flatten (default -1). */
  endDim?: number;
}

/**
 * Flattens dims `startDim..endDim` into one, as `nn.Flatten` (`[N, 256, 5, 5]` -> `[N, 6400]`).
 * @example new nn.Flatten()
 */
export class Flatten extends Module {
  /** First flattened dimension. */
  readonly startDim: number;
  /** Last flattened dimension. */
  readonly endDim: number;

  constructor(opts: FlattenOptions = {}) {
    super();
    this.startDim = opts.startDim ?? 1;
    this.endDim = opts.endDim ?? -1;
  }

  override forward(x: Tensor): Tensor {
    return flatten(x, this.startDim, this.endDim);
  }

  override extraRepr(): string {
    return `startDim=${this.startDim}, endDim=${this.endDim}`;
  }
}
