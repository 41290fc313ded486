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
    private saved: readonly Tensor[],
  ) {
    // The counts let a released tensor free its data once no backward reads it, and its node once
    // no later node can backpropagate into it.
    for (const t of saved) t.savedBy++;
    for (const t of inputs) if (t !== null) t.consumers++;
  }

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

  release(cascade = true): void {
    // A worklist, not recursion: dropping a deep graph (DenseNet-201) releases thousands of nodes.
    const work: Node[] = [this];
    while (work.length > 0) {
      const n = work.pop()!;
      if (n.released) continue;
      n.released = true;
      n.fn = null;
      for (const t of n.owned) t.dispose();
      n.owned = [];
      for (const t of n.saved) {
        t.savedBy--;
        if (t.savedBy === 0 && t.isReleased) t.freeStorage();
      }
      n.saved = [];
      for (const t of n.inputs) {
        if (t === null) continue;
        t.consumers--;
        if (cascade && t.consumers === 0 && t.isReleased && t.gradFn instanceof Node) {
          work.push(t.gradFn);
          t.gradFn = null;
        }
      }
    }
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
 * nothing is recorded. `saved` are the tensors among the inputs and the output whose DATA the
 * backward reads (default: all of them): a released tensor stays in memory only while a node that
 * saved it lives (PyTorch's `save_for_backward`).
 */
export function record(
  name: string,
  inputs: readonly (Tensor | null | undefined)[],
  out: Tensor,
  backward: BackwardFn,
  owned: readonly Disposable[] = [],
  saved?: readonly Tensor[],
): Tensor {
  if (!needsGrad(inputs)) {
    for (const t of owned) t.dispose();
    return out;
  }
  for (const t of owned) if (t instanceof Tensor) t.keep();
  const ins = inputs.map((t) => t ?? null);
  const keepData = saved ?? [...ins.filter((t): t is Tensor => t !== null), out];
  out.gradFn = new Node(name, ins, backward, owned, keepData);
  out.requiresGrad = true;
  return out;
}
