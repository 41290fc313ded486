/**
 * Recording ops into the define-by-run graph. Each op calls `record` with its inputs, its output
 * and a backward closure written next to its forward.
 */
import type { GradNode } from '../tensor/tensor.js';
import { Tensor } from '../tensor/tensor.js';
import type { Disposable } from '../tensor/scope.js';
import { isGradEnabled } from './grad-mode.js';

/** Backward closure: gradients for each input (null where not needed) from the output gradient. */
export type BackwardFn = (gy: Tensor, needs: readonly boolean[]) => (Tensor | null)[];

class Node implements GradNode {
  private released = false;
  constructor(
    readonly name: string,
    readonly inputs: readonly (Tensor | null)[],
    private fn: BackwardFn | null,
    private owned: readonly Disposable[],
  ) {}

  backward(gy: Tensor): (Tensor | null)[] {
    if (this.released || this.fn === null) {
      throw new Error(
        `${this.name}: trying to backward through the graph a second time (its saved tensors were ` +
          'freed after the first backward; pass { retainGraph: true } to the first call)',
      );
    }
    const needs = this.inputs.map((t) => t !== null && t.requiresGrad);
    return this.fn(gy, needs);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.fn = null;
    for (const t of this.owned) t.dispose();
    this.owned = [];
  }
}

/** True when an op on these inputs must be recorded. */
export function needsGrad(inputs: readonly (Tensor | null | undefined)[]): boolean {
  if (!isGradEnabled()) return false;
  return inputs.some((t) => t != null && t.requiresGrad);
}

/**
 * Attaches a backward closure to `out` when grad mode is on and some input requires grad.
 * `owned` are what only the backward uses (tensors, or storages wrapped as disposables: workspaces,
 * saved statistics): they are disposed when the node is released after backward, or at once when
 * nothing is recorded.
 */
export function record(
  name: string,
  inputs: readonly (Tensor | null | undefined)[],
  out: Tensor,
  backward: BackwardFn,
  owned: readonly Disposable[] = [],
): Tensor {
  if (!needsGrad(inputs)) {
    for (const t of owned) t.dispose();
    return out;
  }
  for (const t of owned) if (t instanceof Tensor) t.keep();
  out.gradFn = new Node(name, inputs.map((t) => t ?? null), backward, owned);
  out.requiresGrad = true;
  return out;
}
