/**
 * `GradientReducer`: averages gradients over the world as PyTorch DDP's reducer does. Parameters
 * are grouped into buckets of ~25 MB in REVERSE order of registration (backward produces the last
 * layers' gradients first), the first bucket only ~1 MB so that communication starts early even
 * for a small model (as DDP's first bucket); when backward has completed every gradient of a bucket (a
 * post-accumulate-grad hook per parameter), the bucket is copied to a host buffer and its
 * allreduce starts on MPI's communication thread while backward goes on. `finish()`, after
 * backward, reduces what is left (a parameter no rank reached contributes zeros), waits, and
 * writes the averaged gradients back into `.grad`.
 *
 * Buckets start strictly in bucket order, so every rank issues the same collectives in the same
 * order whatever the timing. Gradients move through the public kernels (`toArray` / `fromHost`),
 * whatever layout the backend keeps them in.
 */
import { Tensor } from '../tensor/tensor.js';
import { registerPostAccumulateGradHook } from '../autograd/hooks.js';
import type { World, Work } from './world.js';

/** Options of `GradientReducer`. */
export interface GradientReducerOptions {
  /** Bucket capacity in MB (10^6 bytes; default 25, PyTorch's `bucket_cap_mb`). */
  bucketCapMb?: number;
  /** Capacity of the first bucket (the last layers), in MB (default 1, as DDP; at most `bucketCapMb`). */
  firstBucketCapMb?: number;
  /** Start each bucket's allreduce as soon as backward completed it (default true); false: all after backward. */
  overlap?: boolean;
}

/** Cumulative time spent by the reducer (seconds), for benchmarks. */
export interface ReducerStats {
  /** Steps reduced. */
  steps: number;
  /** Copying gradients to the buckets and back (on the training thread). */
  copySeconds: number;
  /** Waiting in `finish()` for allreduces to complete (the communication not hidden by backward). */
  waitSeconds: number;
  /** Inside MPI on the communication thread. */
  commSeconds: number;
  /** Bytes reduced per step. */
  bytesPerStep: number;
}

interface Bucket {
  params: Tensor[];
  offsets: number[];
  numel: number;
  buffer: Float32Array | null;
  ready: number;
  readyFlags: boolean[];
  work: Work | null;
}

/**
 * Averages the gradients of `params` over `world` after each backward (see the file comment).
 * @example
 * const reducer = new GradientReducer(model.parameters(), world);
 * loss.backward(); reducer.finish(); optimizer.step();
 */
export class GradientReducer {
  /** The buckets' parameters, bucket 0 first (the last registered parameters). */
  readonly buckets: readonly (readonly Tensor[])[];
  /** Whether allreduces start during backward. */
  readonly overlap: boolean;
  /** While false, backward passes are not reduced (PyTorch's `no_sync`, for gradient accumulation). */
  enabled = true;
  readonly stats: ReducerStats = { steps: 0, copySeconds: 0, waitSeconds: 0, commSeconds: 0, bytesPerStep: 0 };
  readonly #world: World;
  readonly #buckets: Bucket[];
  readonly #where = new Map<Tensor, [number, number]>();
  readonly #removeHooks: (() => void)[] = [];
  #next = 0;
  #active = false;

  constructor(params: readonly Tensor[], world: World, opts: GradientReducerOptions = {}) {
    const capMb = opts.bucketCapMb ?? 25;
    if (!(capMb > 0)) throw new Error(`GradientReducer: bucketCapMb must be > 0, got ${opts.bucketCapMb}`);
    this.#world = world;
    this.overlap = opts.overlap ?? true;
    const cap = capMb * 1e6;
    const firstCap = Math.min(cap, (opts.firstBucketCapMb ?? 1) * 1e6);
    if (!(firstCap > 0)) throw new Error(`GradientReducer: firstBucketCapMb must be > 0, got ${opts.firstBucketCapMb}`);
    const trainable = params.filter((p) => p.requiresGrad);
    const seen = new Set<Tensor>();
    this.#buckets = [];
    let cur: Bucket | null = null;
    for (let i = trainable.length - 1; i >= 0; i--) {
      const p = trainable[i]!;
      if (seen.has(p)) continue;
      seen.add(p);
      if ((p as { isMaterialized?: boolean }).isMaterialized === false) {
        throw new Error(`GradientReducer: parameter ${i} (${p.toString()}) is not materialized yet; run one forward pass first`);
      }
      if (p.dtype !== 'float32') throw new Error(`GradientReducer: parameter ${i} is ${p.dtype}; gradients are reduced in float32`);
      if (cur === null || cur.numel * 4 >= (this.#buckets.length === 1 ? firstCap : cap)) {
        cur = { params: [], offsets: [], numel: 0, buffer: null, ready: 0, readyFlags: [], work: null };
        this.#buckets.push(cur);
      }
      this.#where.set(p, [this.#buckets.length - 1, cur.params.length]);
      cur.params.push(p);
      cur.offsets.push(cur.numel);
      cur.readyFlags.push(false);
      cur.numel += p.size;
    }
    this.buckets = this.#buckets.map((b) => b.params);
    this.stats.bytesPerStep = this.#buckets.reduce((s, b) => s + b.numel * 4, 0);
    for (const p of this.#where.keys()) this.#removeHooks.push(registerPostAccumulateGradHook(p, (leaf) => this.#onGrad(leaf)));
  }

  #onGrad(p: Tensor): void {
    if (!this.enabled || this.#world.size === 1) return;
    const [bi, pi] = this.#where.get(p)!;
    const b = this.#buckets[bi]!;
    if (b.readyFlags[pi]) {
      throw new Error('GradientReducer: backward ran again before the gradients were reduced; to accumulate gradients over several backward passes, set reducer.enabled = false for all but the last');
    }
    this.#active = true;
    const t0 = performance.now();
    this.#copyIn(b, pi);
    this.stats.copySeconds += (performance.now() - t0) / 1000;
    b.readyFlags[pi] = true;
    b.ready++;
    if (this.overlap) this.#launchReady();
  }

  #copyIn(b: Bucket, pi: number): void {
    const p = b.params[pi]!;
    const host = p.grad === null ? null : (p.grad.toArray() as Float32Array);
    if (b.params.length === 1) {
      // A bucket of one parameter reduces the host copy itself.
      b.buffer = host ?? new Float32Array(b.numel);
      return;
    }
    b.buffer ??= new Float32Array(b.numel);
    if (host === null) b.buffer.fill(0, b.offsets[pi]!, b.offsets[pi]! + p.size);
    else b.buffer.set(host, b.offsets[pi]!);
  }

  /** Starts the allreduce of every complete bucket, in bucket order. */
  #launchReady(): void {
    while (this.#next < this.#buckets.length) {
      const b = this.#buckets[this.#next]!;
      if (b.ready < b.params.length) return;
      b.work = this.#world.allreduceAsync(b.buffer!, { average: true });
      this.#next++;
    }
  }

  /**
   * Completes the reduction of this backward pass: buckets not yet started are filled (a
   * parameter without a gradient contributes zeros) and started, all are waited for, and every
   * parameter's `.grad` becomes the world's average. Does nothing in a world of one.
   */
  finish(): void {
    if (!this.enabled || this.#world.size === 1) return;
    const t0 = performance.now();
    for (const b of this.#buckets) {
      for (let i = 0; i < b.params.length; i++) {
        if (b.readyFlags[i]) continue;
        this.#copyIn(b, i);
        b.readyFlags[i] = true;
        b.ready++;
      }
    }
    const t1 = performance.now();
    this.#launchReady();
    for (const b of this.#buckets) this.stats.commSeconds += b.work!.wait();
    const t2 = performance.now();
    for (const b of this.#buckets) {
      b.params.forEach((p, i) => {
        const off = b.offsets[i]!;
        const data = b.params.length === 1 ? b.buffer! : b.buffer!.subarray(off, off + p.size);
        const k = p.kernels;
        const g = new Tensor(k.fromHost(data, p.shape, 'float32'), p.shape, 'float32', k);
        if (p.grad === null || p.grad.isDisposed) p.grad = g.keep();
        else p.grad.assign(g);
      });
      b.work = null;
      b.ready = 0;
      b.readyFlags.fill(false);
      if (b.params.length === 1) b.buffer = null;
    }
    const t3 = performance.now();
    this.#next = 0;
    this.#active = false;
    this.stats.steps++;
    this.stats.copySeconds += (t1 - t0 + (t3 - t2)) / 1000;
    this.stats.waitSeconds += (t2 - t1) / 1000;
  }

  /** True between the first reduced gradient of a backward pass and `finish()`. */
  get pending(): boolean {
    return this.#active;
  }

  /** Removes the hooks (the reducer does nothing afterwards). */
  remove(): void {
    for (const r of this.#removeHooks) r();
    this.#removeHooks.length = 0;
    this.enabled = false;
  }
}
