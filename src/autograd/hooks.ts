/**
 * Post-accumulate-grad hooks (PyTorch's `Tensor.register_post_accumulate_grad_hook`): a function
 * called during `backward()` as soon as a leaf's `.grad` holds its complete gradient for this pass.
 * Data-parallel training uses it to start reducing a gradient while backward is still running.
 */
import type { Tensor } from '../tensor/tensor.js';

/** Called with the leaf whose `.grad` was just completed by a backward pass. */
export type PostAccumulateGradHook = (leaf: Tensor) => void;

const hooks = new WeakMap<Tensor, PostAccumulateGradHook[]>();
let count = 0;

/**
 * Registers `hook` to run each time `backward()` has accumulated the whole gradient of this pass
 * into `leaf.grad` (after the last contribution from the graph). Runs under `noGrad`; the hook may
 * read `leaf.grad` but must not dispose it. A leaf that the pass does not reach gets no call.
 * Returns a function that removes the hook.
 * @example const remove = registerPostAccumulateGradHook(w, (p) => console.log(p.grad!.shape));
 */
export function registerPostAccumulateGradHook(leaf: Tensor, hook: PostAccumulateGradHook): () => void {
  if (!leaf.isLeaf) throw new Error(`registerPostAccumulateGradHook: ${leaf.toString()} is not a leaf tensor`);
  if (!leaf.requiresGrad) throw new Error(`registerPostAccumulateGradHook: ${leaf.toString()} does not require grad`);
  const list = hooks.get(leaf) ?? [];
  list.push(hook);
  hooks.set(leaf, list);
  count++;
  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    const i = list.indexOf(hook);
    if (i >= 0) list.splice(i, 1);
    count--;
  };
}

/** True when some hook is registered (backward then counts each leaf's pending gradients). */
export function anyPostAccumulateGradHooks(): boolean {
  return count > 0;
}

/** Runs the hooks of `leaf` (backward calls this once per leaf and pass). */
export function runPostAccumulateGradHooks(leaf: Tensor): void {
  const list = hooks.get(leaf);
  if (list === undefined) return;
  for (const h of [...list]) h(leaf);
}
