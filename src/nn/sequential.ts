/** `Sequential`: a chain of modules named `0`, `1`, ... (or explicitly, with `addModule`). */
import type { Tensor } from '../tensor/tensor.js';
import { release } from '../tensor/scope.js';
import { Module, seenByHook } from './module.js';

/**
 * Runs its children one after another, as `nn.Sequential`. Children are named `'0'`, `'1'`, ...;
 * `addModule(name, m)` appends a named one (DenseNet's `dense_blk1`). Index with `at(i)` (negative
 * counts from the end) and iterate with `for (const m of seq)`.
 * @example
 * const net = new nn.Sequential(new nn.LazyLinear(256), new nn.ReLU(), new nn.LazyLinear(10));
 * const y = net.call(cn.randn([2, 784]));
 * net.at(-1); // the last LazyLinear
 */
export class Sequential extends Module {
  constructor(...modules: Module[]) {
    super();
    modules.forEach((m, i) => {
      if (!(m instanceof Module)) throw new Error(`Sequential: argument ${i} is not a Module`);
      this.registerModule(String(i), m);
    });
  }

  /** Number of children. */
  get length(): number {
    return this.children().length;
  }

  /** The i-th child (negative i counts from the end); throws when out of range. */
  at(i: number): Module {
    const cs = this.children();
    const j = i < 0 ? i + cs.length : i;
    if (!Number.isInteger(j) || j < 0 || j >= cs.length) {
      throw new Error(`Sequential.at(${i}): index out of range for a Sequential of length ${cs.length}`);
    }
    return cs[j]!;
  }

  /** Appends `m` named by its position (PyTorch's `append`); returns this. */
  append(m: Module): this {
    return this.registerModule(String(this.namedChildren().length), m);
  }

  /** Iterates over the children in order: `for (const blk of this.net) X = cat([X, blk.call(X)], 1)`. */
  [Symbol.iterator](): Iterator<Module> {
    return this.children()[Symbol.iterator]();
  }

  /**
   * Feeds `x` through every child's `call` in order. Each intermediate output is released as soon
   * as the next child has used it (nothing else holds it, as in Python): freed at once, or after
   * backward when that child's backward reads it (a ReLU's output). Outputs a forward hook has seen
   * and tensors of outer scopes are left alone.
   */
  override forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.children()) {
      const next = m.call(y);
      if (y !== x && next !== y && !seenByHook(y)) release(y);
      y = next;
    }
    return y;
  }
}
