/** Stochastic gradient descent with momentum, Nesterov, dampening and weight decay (PyTorch's rule). */
import { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';
import { byBackend, Optimizer, type ParamsInput } from './optimizer.js';

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
 * (or g + momentum·b with Nesterov); p ← p - lr·direction. The update is one fused backend kernel
 * per parameter group (PyTorch's fused/foreach path): no temporaries, no autograd bookkeeping.
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

  /**
   * One update of every parameter with a gradient: one fused backend kernel (`sgdStep`) per
   * parameter group and backend, updating parameters and momentum buffers in place.
   */
  override step(): void {
    noGrad(() => {
      for (const g of this.paramGroups) {
        const live = g.params.filter((p) => p.grad !== null);
        for (const [k, ps] of byBackend(live)) {
          const bufs = ps.map((p) => (this.state.get(p)?.momentum_buffer as Tensor | undefined)?.storage ?? null);
          const out = k.sgdStep(
            ps.map((p) => p.storage),
            ps.map((p) => p.grad!.storage),
            bufs,
            ps.map((p) => p.shape),
            { lr: g.lr, momentum: g.momentum, dampening: g.dampening, weightDecay: g.weightDecay, nesterov: g.nesterov, maximize: g.maximize },
          );
          // First steps return new buffers (PyTorch's momentum_buffer, a copy of the direction).
          out.forEach((b, i) => {
            if (bufs[i] === null) this.setState(this.stateOf(ps[i]!), 'momentum_buffer', new Tensor(b, ps[i]!.shape, 'float32', k));
          });
        }
      }
    });
  }
}
