/**
 * Tensor methods (`x.add(y)`, `x.relu()`): each op family installs the methods of its ops next to
 * their declarations, and types them there with a `declare module` block. `ops/index.ts` imports
 * every family, and every module above the ops layer imports from it, so importing any public
 * module gives the full set (a test imports each module alone and checks).
 */
import { Tensor } from '../tensor/tensor.js';
import { backward, type BackwardOptions } from '../autograd/backward.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Method = (this: Tensor, ...args: any[]) => unknown;

/**
 * Installs `methods` on `Tensor.prototype` (non-enumerable, like class methods).
 * @example installMethods({ relu(this: Tensor) { return relu(this); } });
 */
export function installMethods(methods: Record<string, Method>): void {
  for (const [name, fn] of Object.entries(methods)) {
    Object.defineProperty(Tensor.prototype, name, { value: fn, writable: true, configurable: true, enumerable: false });
  }
}

declare module '../tensor/tensor.js' {
  interface Tensor {
    /** Runs reverse-mode differentiation from this tensor (see `backward`). */
    backward(gradient?: Tensor, opts?: BackwardOptions): void;
  }
}

installMethods({
  backward(gradient?: Tensor, opts?: BackwardOptions) {
    backward(this, gradient, opts);
  },
});
