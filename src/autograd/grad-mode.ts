/** Grad mode: whether ops record the autograd graph (`noGrad` turns it off, as `torch.no_grad`). */

let enabled = true;

/** True unless inside `noGrad` (the lecture's scratch batch norm branches on this). */
export function isGradEnabled(): boolean {
  return enabled;
}

/**
 * Runs `fn` without recording gradients.
 * @example const logits = noGrad(() => net.forward(x));
 */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs `fn` with gradient recording on (inside a `noGrad` region, for example). */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

function withGradMode<T>(mode: boolean, fn: () => T): T {
  const prev = enabled;
  enabled = mode;
  try {
    return fn();
  } finally {
    enabled = prev;
  }
}
