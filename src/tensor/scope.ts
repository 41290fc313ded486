/**
 * Deterministic memory management. Native tensors hold memory outside the JS heap, and a
 * synchronous training loop never yields to run finalizers, so memory is released explicitly:
 * `tidy(fn)` disposes every tensor created inside `fn` except what `fn` returns and what was
 * `keep()`-ed; `dispose(x)` frees at once.
 */

/** What scopes need of a tensor. */
export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
  /**
   * What the end of a scope does (default `dispose`): a tensor frees its memory now, or after the
   * recorded backward that still reads it (see `Tensor.release`).
   */
  release?(): void;
}

const stack: Set<Disposable>[] = [];

/** Registers a new tensor with the innermost scope (no-op outside any scope). */
export function track(t: Disposable): void {
  const top = stack[stack.length - 1];
  if (top !== undefined) top.add(t);
}

/** Removes `t` from every open scope so that no scope disposes it; returns `t`. */
export function keep<T extends Disposable>(t: T): T {
  for (const s of stack) s.delete(t);
  return t;
}

function collect(result: unknown, out: Set<Disposable>, depth = 0): void {
  if (result === null || typeof result !== 'object' || depth > 4) return;
  if (typeof (result as Disposable).dispose === 'function' && 'isDisposed' in (result as object)) {
    out.add(result as Disposable);
    return;
  }
  if (Array.isArray(result)) {
    for (const r of result) collect(r, out, depth + 1);
  } else if (Object.getPrototypeOf(result) === Object.prototype) {
    for (const r of Object.values(result as object)) collect(r, out, depth + 1);
  }
}

/** Ends `t`'s life in a scope: `release` where it has one, else `dispose`. */
function end(t: Disposable): void {
  if (t.release !== undefined) t.release();
  else t.dispose();
}

/**
 * The caller is done with `t`, a tensor made in the innermost scope: it is released now, as the end
 * of the scope would (freed, or kept only while a recorded backward still needs it). Does nothing
 * to tensors of outer scopes, kept tensors and tensors made outside every scope, which someone else
 * may still hold. `Sequential` calls it on each child's output once the next child has used it.
 * @example y = layer.call(h); release(h);
 */
export function release(t: Disposable): void {
  const top = stack[stack.length - 1];
  if (top === undefined || !top.delete(t)) return;
  end(t);
}

/**
 * Runs `fn` and releases every tensor created during it, except the tensors in its result (a
 * tensor, or arrays/plain objects of tensors), which move to the enclosing scope. Releasing frees a
 * tensor at once, unless a recorded backward reads it (a saved activation of a graph that outlives
 * the scope): then it is freed as soon as that backward has run, as PyTorch frees saved tensors.
 * @example const loss = tidy(() => crossEntropy(net.forward(x), y)); // intermediates freed
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  stack.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    stack.pop();
  }
  if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
    // The scope would end at the function's first await and free tensors its continuation still
    // uses; hand everything made so far to the enclosing scope instead, and say so.
    for (const t of scope) track(t);
    throw new Error(
      'tidy: the function returned a Promise; tidy only works with synchronous functions (its scope ends at the first await). ' +
        'Await outside tidy, e.g. const loss = tidy(() => step(x)); await loss.itemAsync();',
    );
  }
  const survivors = new Set<Disposable>();
  collect(result, survivors);
  for (const t of scope) {
    if (!survivors.has(t)) end(t);
  }
  for (const t of survivors) track(t);
  return result;
}

/** Disposes a tensor or every tensor in an array/object. */
export function dispose(x: unknown): void {
  const all = new Set<Disposable>();
  collect(x, all);
  for (const t of all) t.dispose();
}

/** Number of open scopes (for tests). */
export function scopeDepth(): number {
  return stack.length;
}
