/** Stochastic gradient descent with momentum, Nesterov, dampening and weight decay (PyTorch's rule). */
import { Tensor } from '../tensor/tensor.js';
import type { Storage } from '../backend/kernels.js';
import { noGrad } from '../autograd/grad-mode.js';
import { Optimizer, type ParamsInput } from './optimizer.js';

/** Hyperparameters of `SGD` (per group). */
export interface SGDHyper {
  lr: number;
  /** Momentum factor (default 0). */
  momentum: number;
  /** Dampening of the momentum (default 0). */
  dampening: number;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay: number;
  /** Nesterov momentum (default false; needs momentum > 0 and dampening 0). */
  nesterov: boolean;
  /** Maximize the objective instead (default false). */
  maximize: boolean;
}

/** Options of `SGD`. */
export interface SGDOptions extends Partial<SGDHyper> {
  /** Parameters (e.g. `net.parameters()`) or parameter groups `[{ params, lr? ... }]`. */
  params: ParamsInput<SGDHyper>;
  lr: number;
}

/**
 * SGD exactly as `torch.optim.SGD`: with g = grad (+ weightDecay·p), the momentum buffer
 * b = g on the first step, then b = momentum·b + (1 - dampening)·g; the step direction is b
 * (or g + momentum·b with Nesterov); p ← p - lr·direction. The update calls the backend's
 * `scalar`/`axpy` kernels directly (one pass per term, no autograd bookkeeping).
 * @example
 * const opt = new SGD({ params: net.parameters(), lr: 0.1, momentum: 0.9 });
 * opt.zeroGrad(); loss.backward(); opt.step();
 */
export class SGD extends Optimizer<SGDHyper> {
  constructor(opts: SGDOptions) {
    const defaults: SGDHyper = {
      lr: opts.lr,
      momentum: opts.momentum ?? 0,
      dampening: opts.dampening ?? 0,
      weightDecay: opts.weightDecay ?? 0,
      nesterov: opts.nesterov ?? false,
      maximize: opts.maximize ?? false,
    };
    if (!(typeof defaults.lr === 'number' && defaults.lr >= 0)) throw new Error(`SGD: invalid learning rate ${String(opts.lr)}`);
    if (!(defaults.momentum >= 0)) throw new Error(`SGD: invalid momentum ${defaults.momentum}`);
    if (!(defaults.weightDecay >= 0)) throw new Error(`SGD: invalid weightDecay ${defaults.weightDecay}`);
    if (defaults.nesterov && (defaults.momentum <= 0 || defaults.dampening !== 0)) {
      throw new Error('SGD: Nesterov momentum requires a momentum and zero dampening');
    }
    super('SGD', opts.params, defaults);
  }

  override step(): void {
    noGrad(() => {
      for (const g of this.paramGroups) {
        for (const p of g.params) {
          if (p.grad === null) continue;
          const k = p.kernels;
          const shape = p.shape;
          const temps: Storage[] = [];
          try {
            let d = p.grad.storage;
            if (g.maximize) temps.push((d = k.scalar('mul', d, shape, -1, false)));
            if (g.weightDecay !== 0) temps.push((d = k.axpy(d, p.storage, shape, g.weightDecay)));
            if (g.momentum !== 0) {
              const s = this.stateOf(p);
              const prev = s.momentum_buffer as Tensor | undefined;
              let buf: Tensor;
              if (prev === undefined) {
                // First step: the buffer is a copy of d.
                buf = new Tensor(k.scalar('mul', d, shape, 1, false), shape, 'float32', k);
                this.setState(s, 'momentum_buffer', buf);
              } else {
                const decayed = k.scalar('mul', prev.storage, shape, g.momentum, false);
                temps.push(decayed);
                buf = prev.assign(new Tensor(k.axpy(decayed, d, shape, 1 - g.dampening), shape, 'float32', k));
              }
              if (g.nesterov) temps.push((d = k.axpy(d, buf.storage, shape, g.momentum)));
              else d = buf.storage;
            }
            p.assign(new Tensor(k.axpy(p.storage, d, shape, -g.lr), shape, 'float32', k));
          } finally {
            for (const t of temps) k.dispose(t);
          }
        }
      }
    });
  }
}
