/** Adam (Kingma & Ba), with PyTorch's exact update rule. */
import { Tensor } from '../tensor/tensor.js';
import type { Storage } from '../backend/kernels.js';
import { noGrad } from '../autograd/grad-mode.js';
import { Optimizer, type ParamsInput } from './optimizer.js';

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

  override step(): void {
    noGrad(() => {
      for (const g of this.paramGroups) {
        const [beta1, beta2] = g.betas;
        for (const p of g.params) {
          if (p.grad === null) continue;
          const k = p.kernels;
          const shape = p.shape;
          const s = this.stateOf(p);
          if (s.step === undefined) {
            s.step = 0;
            for (const key of ['exp_avg', 'exp_avg_sq']) this.setState(s, key, new Tensor(k.full(shape, 'float32', 0), shape, 'float32', k));
          }
          const step = (s.step as number) + 1;
          s.step = step;
          const m = s.exp_avg as Tensor;
          const v = s.exp_avg_sq as Tensor;
          const temps: Storage[] = [];
          const tmp = (st: Storage): Storage => (temps.push(st), st);
          try {
            let grad = p.grad.storage;
            if (g.maximize) grad = tmp(k.scalar('mul', grad, shape, -1, false));
            if (g.weightDecay !== 0) {
              // AdamW decays the weights themselves, before the moments are updated (PyTorch's order).
              if (this.decoupled) p.assign(new Tensor(k.scalar('mul', p.storage, shape, 1 - g.lr * g.weightDecay, false), shape, 'float32', k));
              else grad = tmp(k.axpy(grad, p.storage, shape, g.weightDecay));
            }
            // m = beta1 m + (1 - beta1) g ; v = beta2 v + (1 - beta2) g * g
            const m1 = tmp(k.scalar('mul', m.storage, shape, beta1, false));
            m.assign(new Tensor(k.axpy(m1, grad, shape, 1 - beta1), shape, 'float32', k));
            const v1 = tmp(k.scalar('mul', v.storage, shape, beta2, false));
            const g2 = tmp(k.binary('mul', grad, shape, grad, shape, shape));
            v.assign(new Tensor(k.axpy(v1, g2, shape, 1 - beta2), shape, 'float32', k));
            const biasCorrection1 = 1 - beta1 ** step;
            const biasCorrection2 = 1 - beta2 ** step;
            const stepSize = g.lr / biasCorrection1;
            // denom = sqrt(v) / sqrt(bc2) + eps ; p = p - stepSize * m / denom
            const sq = tmp(k.unary('sqrt', v.storage, shape));
            const scaled = tmp(k.scalar('div', sq, shape, Math.sqrt(biasCorrection2), false));
            const denom = tmp(k.scalar('add', scaled, shape, g.eps, false));
            const ratio = tmp(k.binary('div', m.storage, shape, denom, shape, shape));
            p.assign(new Tensor(k.axpy(p.storage, ratio, shape, -stepSize), shape, 'float32', k));
          } finally {
            for (const t of temps) k.dispose(t);
          }
        }
      }
    });
  }
}
