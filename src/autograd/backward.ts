/** Reverse-mode differentiation over the recorded graph. */
import { Tensor } from '../tensor/tensor.js';
import { fmt, sameShape } from '../tensor/shape.js';
import { noGrad } from './grad-mode.js';
import { anyPostAccumulateGradHooks, runPostAccumulateGradHooks } from './hooks.js';

/** Options of `backward`. */
export interface BackwardOptions {
  /** Keep the graph's saved tensors so that backward can run again through it. */
  retainGraph?: boolean;
}

function add(a: Tensor, b: Tensor): Tensor {
  const k = a.kernels;
  return new Tensor(k.axpy(a.storage, b.storage, a.shape, 1), a.shape, a.dtype, k);
}

/** Tensors that produced `root`, ordered so that every tensor comes before its inputs. */
function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative post-order DFS: deep nets (DenseNet-201) would overflow a recursive one.
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    const inputs = t.gradFn?.inputs ?? [];
    if (i < inputs.length) {
      top[1] = i + 1;
      const c = inputs[i];
      if (c != null && c.gradFn !== null && !seen.has(c)) {
        seen.add(c);
        stack.push([c, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse();
}

/**
 * Computes gradients of `root` w.r.t. every leaf that requires grad and accumulates them into the
 * leaves' `.grad`. `gradient` defaults to 1 for a one-element root (like PyTorch).
 * @example loss.backward(); w.grad!.toArray();
 */
export function backward(root: Tensor, gradient?: Tensor, opts: BackwardOptions = {}): void {
  if (!root.requiresGrad) {
    throw new Error('backward: the tensor does not require grad (no input of it has requiresGrad)');
  }
  let seed = gradient;
  if (seed === undefined) {
    if (root.size !== 1) {
      throw new Error(`backward: grad can be implicitly created only for one-element outputs, got ${fmt(root.shape)}`);
    }
    const k = root.kernels;
    seed = new Tensor(k.full(root.shape, root.dtype, 1), root.shape, root.dtype, k);
  } else if (!sameShape(seed.shape, root.shape)) {
    throw new Error(`backward: gradient of shape ${fmt(seed.shape)} does not match output ${fmt(root.shape)}`);
  } else if (seed.dtype !== root.dtype) {
    throw new Error(`backward: gradient is ${seed.dtype} but the output is ${root.dtype}`);
  }
  const userSeed = gradient;

  noGrad(() => {
    if (root.isLeaf) {
      accumulateLeaf(root, seed!, seed !== userSeed);
      if (anyPostAccumulateGradHooks()) runPostAccumulateGradHooks(root);
      return;
    }
    const grads = new Map<Tensor, Tensor>([[root, seed!]]);
    const order = topoOrder(root);
    // Only when post-accumulate hooks exist: how many graph edges may still deliver into each leaf.
    const pending = anyPostAccumulateGradHooks() ? leafEdges(order) : null;
    for (const t of order) {
      const g = grads.get(t);
      grads.delete(t);
      const node = t.gradFn;
      if (g === undefined || node === null) {
        if (pending !== null && node !== null) for (const input of node.inputs) settleLeaf(pending, input, false);
        // No gradient reached it: nothing can flow through it later either; free what it saved.
        if (node !== null && !opts.retainGraph) node.release(false);
        continue;
      }
      const gs = node.backward(g);
      node.inputs.forEach((input, i) => {
        const gi = gs[i] ?? null;
        if (gi === null) {
          if (pending !== null) settleLeaf(pending, input, false);
          return;
        }
        if (input === null || !input.requiresGrad) {
          if (gi !== g) gi.dispose();
          return;
        }
        if (!sameShape(gi.shape, input.shape) || gi.dtype !== input.dtype) {
          throw new Error(
            `${node.name} backward produced a ${gi.dtype} gradient of shape ${fmt(gi.shape)} for a ${input.dtype} input of shape ${fmt(input.shape)}`,
          );
        }
        // A node may pass its incoming gradient straight through; never let two owners share it.
        const owned = gi === g ? copyOf(gi) : gi;
        if (input.isLeaf) {
          accumulateLeaf(input, owned, true);
          if (pending !== null) settleLeaf(pending, input, true);
        } else {
          const prev = grads.get(input);
          if (prev === undefined) {
            grads.set(input, owned);
          } else {
            grads.set(input, add(prev, owned));
            prev.dispose();
            owned.dispose();
          }
        }
      });
      if (g !== userSeed) g.dispose();
      // Every node is released in this order (its inputs' nodes come later), so no cascade; its
      // saved tensors that their scope already released are freed now, as PyTorch does.
      if (!opts.retainGraph) node.release(false);
    }
  });
}

/** Per leaf that requires grad: edges of the graph still to deliver, and whether one delivered. */
type LeafEdges = Map<Tensor, { left: number; got: boolean }>;

function leafEdges(order: readonly Tensor[]): LeafEdges {
  const m: LeafEdges = new Map();
  for (const t of order) {
    for (const input of t.gradFn?.inputs ?? []) {
      if (input === null || !input.isLeaf || !input.requiresGrad) continue;
      const e = m.get(input);
      if (e === undefined) m.set(input, { left: 1, got: false });
      else e.left++;
    }
  }
  return m;
}

/** One edge into `input` is done; after the last one a leaf that received a gradient runs its hooks. */
function settleLeaf(pending: LeafEdges, input: Tensor | null, delivered: boolean): void {
  if (input === null) return;
  const e = pending.get(input);
  if (e === undefined) return;
  e.left--;
  e.got ||= delivered;
  if (e.left === 0 && e.got) runPostAccumulateGradHooks(input);
}

function copyOf(t: Tensor): Tensor {
  const k = t.kernels;
  return new Tensor(k.scalar('mul', t.storage, t.shape, 1, false), t.shape, t.dtype, k);
}

function accumulateLeaf(leaf: Tensor, g: Tensor, owned: boolean): void {
  if (leaf.isReleased || leaf.isDisposed) {
    // Nobody holds the leaf any more: nothing could read its gradient.
    if (owned) g.dispose();
    return;
  }
  const own = owned ? g : copyOf(g);
  if (leaf.grad === null) {
    leaf.grad = own.keep();
  } else {
    const sum = add(leaf.grad, own).keep();
    leaf.grad.dispose();
    own.dispose();
    leaf.grad = sum;
  }
}
