/** Adam (Kingma & Ba), with PyTorch's exact update rule. */
import { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';
import { byBackend, Optimizer, type ParamsInput } from './optimizer.js';

/** Hyperparameters of `Adam` (per group). */
export interface AdamHyper {
  lr: number;
  /** Decay rates of the first and second moment estimates (default [0.9, 0.999]). */
  betas: [number, number];
  /** Added to the denominator (default 1e-8). */
  eps: number;
  /** Weight decay: an L2 term added to the gradient in `Adam`, decoupled in `AdamW`. */
  weightDecay: number;
  /** Maximize the objective instead (default false). */
  maximize: boolean;
}

/** Options of `Adam`. */
export interface AdamOptions extends Partial<AdamHyper> {
  /** Parameters (e.g. `net.parameters()`) or parameter groups `[{ params, lr? ... }]`. */
  params: ParamsInput<AdamHyper>;
}

/**
 * Adam exactly as `torch.optim.Adam` (amsgrad off): g = grad (+ weightDecay·p);
 * m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²; p ← p - lr/(1-β1^t) · m / (√v/√(1-β2^t) + eps).
 * State per parameter: `step`, `exp_avg`, `exp_avg_sq` (PyTorch's names).
 * @example const opt = new Adam({ params: net.parameters(), lr: 1e-3 });
 */
export class Adam extends Optimizer<AdamHyper> {
  /** Decoupled weight decay (AdamW's p ← p·(1 − lr·weightDecay)) instead of the L2 gradient term. */
  protected readonly decoupled: boolean = false;

  constructor(opts: AdamOptions) {
    const name = new.target.name;
    const defaults: AdamHyper = {
      lr: opts.lr ?? 1e-3,
      betas: opts.betas ?? [0.9, 0.999],
      eps: opts.eps ?? 1e-8,
      weightDecay: opts.weightDecay ?? 0,
      maximize: opts.maximize ?? false,
    };
    if (!(defaults.lr >= 0)) throw new Error(`${name}: invalid learning rate ${defaults.lr}`);
    if (!(defaults.eps >= 0)) throw new Error(`${name}: invalid eps ${defaults.eps}`);
    for (const b of defaults.betas) if (!(b >= 0 && b < 1)) throw new Error(`${name}: invalid beta ${b} (must be in [0, 1))`);
    if (!(defaults.weightDecay >= 0)) throw new Error(`${name}: invalid weightDecay ${defaults.weightDecay}`);
    super(name, opts.params, defaults);
  }

  /**
   * One update of every parameter with a gradient: one fused backend kernel (`adamStep`) per
   * parameter group, backend and step count, updating parameters and moments in place.
   */
  override step(): void {
    noGrad(() => {
      for (const g of this.paramGroups) {
        const live = g.params.filter((p) => p.grad !== null);
        for (const [k, ps] of byBackend(live)) {
          // Parameters that first got a gradient later are at a different step: one call per step count.
          const byStep = new Map<number, Tensor[]>();
          for (const p of ps) {
            const s = this.stateOf(p);
            if (s.step === undefined) {
              s.step = 0;
              for (const key of ['exp_avg', 'exp_avg_sq']) this.setState(s, key, new Tensor(k.full(p.shape, 'float32', 0), p.shape, 'float32', k));
            }
            s.step = (s.step as number) + 1;
            const list = byStep.get(s.step) ?? [];
            list.push(p);
            byStep.set(s.step, list);
          }
          for (const [step, group] of byStep) {
            const st = group.map((p) => this.stateOf(p));
            k.adamStep(
              group.map((p) => p.storage),
              group.map((p) => p.grad!.storage),
              st.map((s) => (s.exp_avg as Tensor).storage),
              st.map((s) => (s.exp_avg_sq as Tensor).storage),
              group.map((p) => p.shape),
              { lr: g.lr, beta1: g.betas[0], beta2: g.betas[1], eps: g.eps, weightDecay: g.weightDecay, decoupled: this.decoupled, maximize: g.maximize, step },
            );
          }
        }
      }
    });
  }
}
