/**
 * `DistributedSampler`: each rank's part of every epoch, as PyTorch's
 * `torch.utils.data.DistributedSampler` — from the epoch's order of all samples (the loader draws
 * it from its seeded generator, the same on every rank whatever the world size), rank r takes
 * positions r, r + W, r + 2W, ... of the order padded to a multiple of W by repeating its start.
 * The parts are disjoint, cover the dataset, and are equally long, so every rank runs the same
 * number of steps. With a per-rank batch of B/W, global batch k is exactly positions kB..kB+B-1 of
 * the order: the same images a single process with batch B trains on in its step k.
 */
import type { Sampler } from '../data/loader.js';

/** Options of `DistributedSampler`. */
export interface DistributedSamplerOptions {
  /** Number of ranks W. */
  numReplicas: number;
  /** This rank, 0..W-1. */
  rank: number;
  /**
   * Pad the order to a multiple of W by repeating its first samples, so every rank gets the same
   * count (default true, as PyTorch; training needs it). `false` gives ranks r < n mod W one sample
   * more and counts every sample once (sharded validation, whose sums are reduced).
   */
  pad?: boolean;
  /** Drop the tail instead of padding (PyTorch's `drop_last`; default false). */
  dropLast?: boolean;
}

/**
 * Rank r's part of each epoch's order (see the file comment); plug it into a `DataLoader` with
 * `sampler`, with the per-rank batch size.
 * @example new DataLoader(ds, { batchSize: 128 / world.size, shuffle: true, sampler: new DistributedSampler({ numReplicas: world.size, rank: world.rank }) })
 */
export class DistributedSampler implements Sampler {
  /** Number of ranks. */
  readonly numReplicas: number;
  /** This rank. */
  readonly rank: number;
  /** Whether the order is padded to a multiple of the world size. */
  readonly pad: boolean;
  /** Whether the tail is dropped instead. */
  readonly dropLast: boolean;

  constructor(opts: DistributedSamplerOptions) {
    const { numReplicas, rank } = opts;
    if (!Number.isInteger(numReplicas) || numReplicas < 1) throw new Error(`DistributedSampler: numReplicas must be a positive integer, got ${numReplicas}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= numReplicas) {
      throw new Error(`DistributedSampler: rank must be an integer in 0..${numReplicas - 1}, got ${rank}`);
    }
    this.numReplicas = numReplicas;
    this.rank = rank;
    this.pad = opts.pad ?? true;
    this.dropLast = opts.dropLast ?? false;
  }

  /** Samples this rank gets out of `n` per epoch. */
  numSamples(n: number): number {
    const W = this.numReplicas;
    if (this.dropLast) return Math.floor(n / W);
    if (this.pad) return n === 0 ? 0 : Math.ceil(n / W);
    return Math.floor(n / W) + (this.rank < n % W ? 1 : 0);
  }

  /** This rank's samples from an epoch's order of all n samples. */
  select(order: Int32Array): Int32Array {
    const n = order.length;
    const W = this.numReplicas;
    const count = this.numSamples(n);
    const out = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      // Position in the padded order; padding repeats the order from its start (wrapping again
      // when the dataset is smaller than the world).
      out[i] = order[(this.rank + i * W) % n]!;
    }
    return out;
  }
}
