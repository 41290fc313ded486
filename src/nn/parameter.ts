/**
 * `Parameter`: a leaf tensor that requires grad and that a `Module` registers automatically. Lazy
 * layers hold *uninitialized* parameters whose shape is fixed by the first forward.
 */
import { Tensor } from '../tensor/tensor.js';
import { keep } from '../tensor/scope.js';
import { fmt, numel } from '../tensor/shape.js';
import { getBackend, releaseHostArray } from '../backend/index.js';
import type { Kernels, Shape, Storage } from '../backend/kernels.js';

/** Marker used by `Parameter.uninitialized` (not exported from the package). */
const UNINITIALIZED = Symbol('uninitialized');

/**
 * A trainable tensor: a leaf with `requiresGrad = true` that a `Module` discovers when it is
 * assigned to one of its properties. `new Parameter(t)` takes over `t`'s storage (`t` is left
 * disposed). Parameters are never disposed by `tidy` scopes.
 * @example
 * class Scale extends nn.Module {
 *   gamma = new nn.Parameter(cn.ones([1, 6, 1, 1]));
 *   override forward(x: Tensor) { return x.mul(this.gamma); }
 * }
 */
export class Parameter extends Tensor {
  #materialized: boolean;
  #owner: string;
  #pending: ((p: Parameter) => void)[] = [];
  #staging: Float32Array | null = null;

  /** Wraps `t` (its storage moves into the parameter). */
  constructor(t: Tensor);
  /** @internal used by `Parameter.uninitialized`. */
  constructor(t: typeof UNINITIALIZED, owner: string, kernels: Kernels);
  constructor(t: Tensor | typeof UNINITIALIZED, owner = '', kernels?: Kernels) {
    if (t === UNINITIALIZED) {
      const k = kernels!;
      super(k.full([0], 'float32', 0), [0], 'float32', k);
      this.#materialized = false;
      this.#owner = owner;
      // Reading the shape of a lazy parameter is an error naming its layer.
      Object.defineProperty(this, 'shape', {
        get: () => {
          throw new Error(
            `${this.#owner} is an uninitialized parameter of a lazy layer: its shape is fixed by the first forward (call the model once on an input)`,
          );
        },
        enumerable: true,
        configurable: true,
      });
    } else {
      if (!(t instanceof Tensor)) throw new Error('Parameter: expected a Tensor');
      if (t.dtype === 'int32') throw new Error('Parameter: only floating-point tensors can be parameters (got int32)');
      super(t.storage, t.shape, t.dtype, t.kernels);
      this.adoptStorage(t);
      this.#materialized = true;
      this.#owner = 'Parameter';
    }
    this.requiresGrad = true;
    keep(this);
  }

  /**
   * An uninitialized parameter for a lazy layer; `owner` names it in errors
   * (e.g. `'LazyLinear(out=10).weight'`).
   */
  static uninitialized(owner: string): Parameter {
    return new Parameter(UNINITIALIZED, owner, getBackend());
  }

  /**
   * A parameter of `shape` (on the current backend) whose values are staged on the host until
   * `flush()`: layers create one, run their default init (`nn.init` writes into the host buffer)
   * and flush, allocating backend memory once.
   */
  static staged(shape: Shape, owner = 'Parameter'): Parameter {
    return Parameter.uninitialized(owner).materialize(shape, undefined, { staged: true });
  }

  /** False for a lazy layer's parameter until the first forward fixes its shape. */
  get isMaterialized(): boolean {
    return this.#materialized;
  }

  /** Name used in error messages (`'LazyConv2d(out=96).weight'`). */
  get owner(): string {
    return this.#owner;
  }
  set owner(v: string) {
    this.#owner = v;
  }

  /**
   * Gives an uninitialized parameter its shape on `kernels` (default: its backend), filled with
   * zeros. Layers call this; users rarely need it. With `{ staged: true }` the values live in a host
   * buffer that the `nn.init` functions fill in place, uploaded once by `flush()` (or by the first
   * use of the storage): materializing a 26M-weight layer then allocates its memory once, not once
   * per init.
   */
  materialize(shape: Shape, kernels: Kernels = this.kernels, opts: { staged?: boolean } = {}): this {
    if (this.#materialized) {
      throw new Error(`${this.#owner}: parameter is already materialized with shape ${fmt(this.shape)}`);
    }
    if (opts.staged && kernels.name !== 'meta') {
      // A placeholder storage with the real shape; the storage getter uploads the host values first.
      this.adoptStorage(new Tensor(kernels.full([0], 'float32', 0), shape, 'float32', kernels));
      this.#staging = new Float32Array(numel(shape));
    } else {
      this.adoptStorage(new Tensor(kernels.full(shape, 'float32', 0), shape, 'float32', kernels));
    }
    this.#materialized = true;
    return this;
  }

  /** The host buffer of a staged parameter (see `materialize`), null otherwise. For `nn.init`. */
  get stagingBuffer(): Float32Array | null {
    return this.#staging;
  }

  /** Uploads the host values of a staged parameter (no-op otherwise); returns this. */
  flush(): this {
    const h = this.#staging;
    if (h !== null) {
      this.#staging = null;
      const k = this.kernels;
      this.adoptStorage(new Tensor(k.fromHost(h, this.shape, 'float32'), this.shape, 'float32', k));
      // The host copy is garbage now; free it at once (V8 kept the model's worth of it resident).
      releaseHostArray(k, h);
    }
    return this;
  }

  override get storage(): Storage {
    if (this.#staging !== null) this.flush();
    return super.storage;
  }

  override dispose(): void {
    this.#staging = null;
    super.dispose();
  }

  /**
   * Runs the inits that were deferred while the parameter was lazy (called by the layer after its
   * default initialization).
   */
  runPendingInits(): void {
    const fns = this.#pending;
    this.#pending = [];
    for (const fn of fns) fn(this);
  }

  /** Number of inits waiting for materialization. */
  get pendingInits(): number {
    return this.#pending.length;
  }

  /**
   * Runs `fn(this)` now when the parameter has a shape, or remembers it until the lazy layer
   * materializes (after its default init). The `nn.init` functions go through this, so
   * `net.apply(xavierInitCnn)` on still-lazy layers is not lost.
   * @example p.whenMaterialized((w) => nn.init.xavierUniform(w));
   */
  whenMaterialized(fn: (p: Parameter) => void): void {
    if (this.#materialized) fn(this);
    else this.#pending.push(fn);
  }

  /** Replaces the data (same size); an uninitialized parameter cannot be assigned. */
  override assign(other: Tensor): this {
    if (!this.#materialized) {
      throw new Error(
        `${this.#owner}: cannot assign to an uninitialized parameter of a lazy layer (call the model once first, or use nn.init functions, which wait for materialization)`,
      );
    }
    return super.assign(other);
  }

  override toString(): string {
    if (!this.#materialized) return `Parameter(uninitialized, ${this.#owner})`;
    return `Parameter(${this.dtype} ${fmt(this.shape)})`;
  }
}
