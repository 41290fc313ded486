/**
 * The Tensor: a shape, a dtype and a backend storage handle, plus what autograd needs (`grad`,
 * `requiresGrad`, the node that made it). Host data is read only on demand (`toArray`, `item`), so a
 * backend may keep data in its own layout and reorder only at the boundary.
 */
import type { DType, HostArray, Kernels, Shape, Storage } from '../backend/kernels.js';
import { fmt, numel } from './shape.js';
import { keep, track } from './scope.js';
import { hostValues, isFloat } from './dtype.js';

/** Numbers read back from a tensor: float32 (also for bfloat16, widened exactly), float64 or int32. */
export type NumberArray = Float32Array | Float64Array | Int32Array;

/**
 * A recorded operation in the autograd graph (implemented in autograd/). `inputs[i]` receives the
 * i-th gradient returned by `backward`.
 */
export interface GradNode {
  /** Op name, for error messages. */
  readonly name: string;
  /** The op's tensor inputs (null where the input needs no gradient). */
  readonly inputs: readonly (Tensor | null)[];
  /** Gradients w.r.t. each input given the gradient of the output. */
  backward(gy: Tensor): (Tensor | null)[];
  /**
   * Frees what the node saved for backward. With `cascade` (default), the nodes of released inputs
   * that nothing else can reach any more are released too (the backward engine, which releases every
   * node itself in order, passes false).
   */
  release(cascade?: boolean): void;
}

/** A multi-dimensional array on a backend. */
export class Tensor {
  /** Logical dimensions (row-major). */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: DType;
  /** The backend that owns the storage. */
  readonly kernels: Kernels;
  /** Gradient accumulated by `backward()` (leaf tensors that require grad). */
  grad: Tensor | null = null;
  /** The op that produced this tensor when it was recorded for autograd. */
  gradFn: GradNode | null = null;
  /**
   * How many live graph nodes keep this tensor's data for their backward (autograd's count).
   * @internal
   */
  savedBy = 0;
  /** How many live graph nodes take this tensor as an input (autograd's count). @internal */
  consumers = 0;
  private _storage: Storage | null;
  private _requiresGrad = false;
  private _released = false;

  /** Wraps an existing storage (ops use this; users call the creation functions). */
  constructor(storage: Storage, shape: Shape, dtype: DType, kernels: Kernels) {
    this._storage = storage;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.kernels = kernels;
    track(this);
  }

  /** The backend storage; throws a clear error when the tensor was disposed. */
  get storage(): Storage {
    if (this._storage === null) {
      throw new Error(
        this._released
          ? `tensor of shape ${fmt(this.shape)} was released by its scope (no recorded backward kept it) and can no longer be used`
          : `tensor of shape ${fmt(this.shape)} was disposed and can no longer be used`,
      );
    }
    return this._storage;
  }

  /** Whether gradients flow into this tensor. Only floating-point tensors can require grad. */
  get requiresGrad(): boolean {
    return this._requiresGrad;
  }
  set requiresGrad(v: boolean) {
    if (v && !isFloat(this.dtype)) {
      throw new Error(`requiresGrad: only floating-point tensors can require gradients (got ${this.dtype})`);
    }
    this._requiresGrad = v;
  }

  /** Marks this tensor as requiring grad (chainable). */
  requiresGrad_(v = true): this {
    this.requiresGrad = v;
    return this;
  }

  /** Number of dimensions. */
  get ndim(): number {
    return this.shape.length;
  }

  /** Number of elements. */
  get size(): number {
    return numel(this.shape);
  }

  /** True once its memory is freed (`dispose()`, or `release()` with no backward keeping it). */
  get isDisposed(): boolean {
    return this._storage === null;
  }

  /** True once the owner let go of the tensor (`release()`, the end of its `tidy` scope). */
  get isReleased(): boolean {
    return this._released;
  }

  /** True for tensors not produced by a recorded op (user-created or detached). */
  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  /**
   * Row-major host copy in the dtype's storage form (bfloat16 as raw 16-bit patterns), read
   * synchronously; for files and transfers. Most code wants `toArray()` (numbers).
   */
  toHost(): HostArray {
    const read = this.kernels.toHost;
    if (read === undefined) {
      throw new Error(
        `the '${this.kernels.name}' backend reads tensors back asynchronously: use await t.data() / await t.itemAsync() instead of toArray() / item()`,
      );
    }
    return read.call(this.kernels, this.storage, this.shape);
  }

  /** Like `toHost`, asynchronously (every backend, including GPUs). */
  async readHost(): Promise<HostArray> {
    return this.kernels.read(this.storage, this.shape);
  }

  /**
   * Row-major numbers (synchronous; CPU backends): Float32Array for float32 and bfloat16 (widened
   * exactly), Float64Array for float64, Int32Array for int32. On a GPU backend use `await data()`.
   */
  toArray(): NumberArray {
    return hostValues(this.dtype, this.toHost());
  }

  /**
   * Row-major numbers, read back asynchronously (PyTorch has no equivalent; tfjs's `data()`).
   * @example const probs = await net.forward(x).softmax(1).data();
   */
  async data(): Promise<NumberArray> {
    return hostValues(this.dtype, await this.readHost());
  }

  /** The value of a one-element tensor (synchronous; CPU backends). */
  item(): number {
    this.checkOne('item');
    return this.toArray()[0]!;
  }

  /** The value of a one-element tensor, read back asynchronously. @example await loss.itemAsync() */
  async itemAsync(): Promise<number> {
    this.checkOne('itemAsync');
    return (await this.data())[0]!;
  }

  private checkOne(what: string): void {
    if (this.size !== 1) {
      throw new Error(`${what}: tensor of shape ${fmt(this.shape)} has ${this.size} elements, expected 1`);
    }
  }

  /** Nested JS arrays (like PyTorch's `tolist()`). */
  tolist(): unknown {
    const data = this.toArray();
    if (this.ndim === 0) return data[0];
    const build = (dim: number, offset: number): unknown[] => {
      const n = this.shape[dim]!;
      const stride = numel(this.shape.slice(dim + 1));
      const out: unknown[] = [];
      for (let i = 0; i < n; i++) {
        out.push(dim === this.ndim - 1 ? data[offset + i] : build(dim + 1, offset + i * stride));
      }
      return out;
    };
    return build(0, 0);
  }

  /** Frees the storage now (also the grad). Safe to call twice. */
  dispose(): void {
    if (this._storage !== null) {
      this.kernels.dispose(this._storage);
      this._storage = null;
    }
    if (this.grad !== null) {
      this.grad.dispose();
      this.grad = null;
    }
    // Nothing can backpropagate into a disposed tensor: free what its node saved (workspaces,
    // batch statistics) now instead of leaking it when the graph is dropped without backward.
    if (this.gradFn !== null) this.gradFn.release();
    this.gradFn = null;
  }

  /**
   * The owner lets go of the tensor, as Python's `del`: its memory is freed now, or, when a recorded
   * backward still reads it (a saved activation), as soon as the last such backward has run or its
   * graph is dropped. The graph node that made it stays while later nodes can still backpropagate
   * into it. `tidy` releases the tensors it does not return; use `dispose()` to free at once.
   * After `release()` the tensor must not be used. Releasing twice is harmless.
   * @example tidy(() => net.call(x)) // the intermediates are released; backward frees the saved ones
   */
  release(): void {
    if (this._released) return;
    this._released = true;
    if (this.grad !== null) {
      this.grad.dispose();
      this.grad = null;
    }
    if (this.savedBy === 0) this.freeStorage();
    if (this.consumers === 0 && this.gradFn !== null) {
      const node = this.gradFn;
      this.gradFn = null;
      node.release();
    }
  }

  /**
   * Frees the storage of a released tensor whose data no backward needs any more (autograd calls it
   * when the last node that saved it is released).
   * @internal
   */
  freeStorage(): void {
    if (this._storage !== null) {
      this.kernels.dispose(this._storage);
      this._storage = null;
    }
  }

  /**
   * Replaces this tensor's storage by `other`'s (which must have the same size and dtype), freeing
   * the old one; `other` is left disposed. Used by optimizers to update parameters in place.
   */
  assign(other: Tensor): this {
    if (other.kernels !== this.kernels || other.dtype !== this.dtype || other.size !== this.size) {
      throw new Error(`assign: cannot assign ${other.dtype} ${fmt(other.shape)} to ${this.dtype} ${fmt(this.shape)}`);
    }
    const s = other.storage;
    other._storage = null;
    if (this._storage !== null && this._storage !== s) this.kernels.dispose(this._storage);
    this._storage = s;
    return this;
  }

  /**
   * Hook for subclasses (nn's lazy `Parameter`): takes over `other`'s storage, shape and backend
   * whatever its shape, freeing this tensor's old storage; `other` is left disposed.
   */
  protected adoptStorage(other: Tensor): void {
    if (other.dtype !== this.dtype) throw new Error(`adoptStorage: cannot adopt ${other.dtype} into ${this.dtype}`);
    const s = other.storage;
    other._storage = null;
    if (this._storage !== null && this._storage !== s) this.kernels.dispose(this._storage);
    this._storage = s;
    for (const [key, value] of [['shape', other.shape], ['kernels', other.kernels]] as const) {
      Object.defineProperty(this, key, { value, enumerable: true, configurable: true, writable: false });
    }
  }

  /** Removes the tensor from every open `tidy` scope so it survives them; returns it. */
  keep(): this {
    return keep(this);
  }

  /** Short description for logs: `Tensor(float32 [2, 3])`. */
  toString(): string {
    return `Tensor(${this.dtype} ${fmt(this.shape)}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}
