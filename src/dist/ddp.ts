/**
 * `DistributedDataParallel`: PyTorch's DDP as a plug-in of the existing `Trainer` (its
 * `dataParallel` option), not a second trainer. At construction rank 0's parameters and buffers
 * are broadcast to every rank; after each backward the gradients are averaged by a bucketed
 * `GradientReducer` (started during backward); so the optimizer, fed the same averaged gradients,
 * steps identically everywhere. Before validation every rank takes rank 0's buffers (batch-norm
 * running statistics, which each rank updated from its own shard: PyTorch's `broadcast_buffers`),
 * and the epoch's loss/accuracy sums are added over the world.
 */
import { Tensor } from '../tensor/tensor.js';
import { Module } from '../nn/module.js';
import { Parameter } from '../nn/parameter.js';
import { GradientReducer, type GradientReducerOptions } from './reducer.js';
import { fingerprint } from './fingerprint.js';
import type { World } from './world.js';

/** Options of `DistributedDataParallel`. */
export interface DistributedDataParallelOptions extends GradientReducerOptions {
  /** Copy rank 0's buffers to every rank before each validation pass (default true). */
  broadcastBuffers?: boolean;
}

/**
 * Overwrites `module`'s state on every rank with `root`'s: all of `stateDict()`, or only its
 * buffers (running statistics, counters). Goes through `loadStateDict`, so layers that cache a
 * buffer (BatchNorm's batch counter) follow.
 * @example broadcastState(model, world); // every rank now has rank 0's initial weights
 */
export function broadcastState(module: Module, world: World, opts: { root?: number; buffersOnly?: boolean } = {}): void {
  if (!world.isDistributed) return;
  const root = opts.root ?? 0;
  const sd = module.stateDict();
  const params = new Set<Tensor>(module.parameters());
  const received: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(sd)) {
    if (opts.buffersOnly && params.has(t)) continue;
    if (t instanceof Parameter && !t.isMaterialized) throw new Error(`broadcastState: '${name}' is not materialized yet; run one forward pass first`);
    const host = world.broadcast(t.toArray(), root);
    if (world.rank !== root) received[name] = new Tensor(t.kernels.fromHost(host, t.shape, t.dtype), t.shape, t.dtype, t.kernels);
  }
  if (world.rank === root) return;
  try {
    module.loadStateDict(received, { strict: !opts.buffersOnly });
  } finally {
    for (const t of Object.values(received)) t.dispose();
  }
}

/**
 * Data-parallel training of `module` over `world`; pass it to the trainer as `dataParallel`.
 * Create it after the module's lazy parameters are materialized and before training.
 * @example
 * const ddp = new DistributedDataParallel(model, world);
 * await new Trainer({ maxEpochs: 10, dataParallel: ddp }).fit(model, data);
 */
export class DistributedDataParallel {
  /** The wrapped module (its parameters are the ones trained). */
  readonly module: Module;
  /** The processes training together. */
  readonly world: World;
  /** The bucketed gradient averaging. */
  readonly reducer: GradientReducer;
  /** Whether validation uses rank 0's buffers on every rank. */
  readonly broadcastBuffers: boolean;

  constructor(module: Module, world: World, opts: DistributedDataParallelOptions = {}) {
    this.module = module;
    this.world = world;
    this.broadcastBuffers = opts.broadcastBuffers ?? true;
    broadcastState(module, world);
    this.reducer = new GradientReducer(module.parameters(), world, opts);
  }

  /** Processes training together. */
  get worldSize(): number {
    return this.world.size;
  }

  /** Averages the gradients of this backward pass over the world. */
  afterBackward(): void {
    this.reducer.finish();
  }

  /** Gives every rank rank 0's buffers. */
  beforeValidation(): void {
    if (this.broadcastBuffers) broadcastState(this.module, this.world, { buffersOnly: true });
  }

  /** Sums over the world. */
  sum(values: readonly number[]): number[] {
    return this.world.sum(values);
  }

  /**
   * Throws when the ranks' parameters are not bitwise equal (they must be: every rank applies the
   * same averaged gradients). One hash per rank and one tiny allreduce; the CLI checks after
   * every epoch.
   */
  checkInSync(): void {
    if (!this.world.isDistributed) return;
    const h = parseInt(fingerprint(...this.module.parameters().map((p) => p.toArray())), 16);
    const extremes = this.world.allreduce(Float64Array.of(h, -h), { op: 'max' });
    if (extremes[0] !== -extremes[1]!) {
      throw new Error("the ranks' parameters are no longer equal (their gradients were averaged differently); stopping before the run goes wrong");
    }
  }

  /** Removes the gradient hooks. */
  remove(): void {
    this.reducer.remove();
  }
}
