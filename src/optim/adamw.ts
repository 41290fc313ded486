/** AdamW (Loshchilov & Hutter): Adam with decoupled weight decay, PyTorch's rule. */
import { Adam, type AdamOptions } from './adam.js';

/** Options of `AdamW` (as `Adam`'s; `weightDecay` defaults to 1e-2, as torch.optim.AdamW). */
export type AdamWOptions = AdamOptions;

/**
 * AdamW exactly as `torch.optim.AdamW` (amsgrad off): p ← p·(1 − lr·weightDecay) first, then the
 * Adam update on the plain gradient — m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
 * p ← p − lr/(1−β1^t) · m / (√v/√(1−β2^t) + eps). Defaults: lr 1e-3, betas [0.9, 0.999], eps 1e-8,
 * weightDecay 1e-2. State per parameter: `step`, `exp_avg`, `exp_avg_sq`.
 * @example const opt = new AdamW({ params: net.parameters(), lr: 1e-3, weightDecay: 0.05 });
 */
export class AdamW extends Adam {
  protected override readonly decoupled: boolean = true;

  constructor(opts: AdamWOptions) {
    super({ ...opts, weightDecay: opts.weightDecay ?? 1e-2 });
  }
}
