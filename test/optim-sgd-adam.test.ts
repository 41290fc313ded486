/**
 * Optimizers against PyTorch trajectories: 3 steps on the quadratic
 * loss = sum(c * p * p) + sum(d * p), p0 = [1, -2, 3, 0.5], c = [0.5, 1, 2, 4], d = [0.1, -0.3, 0.2, 0].
 *
 * Script (PyTorch 1.13):
 *   def run(make, steps=3):
 *       p = torch.tensor([1.0, -2.0, 3.0, 0.5], requires_grad=True)
 *       c = torch.tensor([0.5, 1.0, 2.0, 4.0]); d = torch.tensor([0.1, -0.3, 0.2, 0.0])
 *       opt = make([p]); out = []
 *       for _ in range(steps):
 *           opt.zero_grad(); loss = (c * p * p).sum() + (d * p).sum(); loss.backward(); opt.step()
 *           out.append([float(v) for v in p.detach()])
 *       return out
 *   run(lambda ps: torch.optim.SGD(ps, lr=0.1))                                  # plain
 *   run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9))                    # momentum
 *   run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True))     # nesterov
 *   run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01)) # weightDecay
 *   run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.5))     # dampening
 *   run(lambda ps: torch.optim.Adam(ps, lr=0.1))                                 # adam
 *   run(lambda ps: torch.optim.Adam(ps, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1))  # adamWd
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as cn from '../src/index.js';
import type { BackendName, Tensor } from '../src/index.js';
import * as nn from '../src/nn/index.js';
import { SGD, Adam, type Optimizer } from '../src/optim/index.js';
import { assertClose, type Tol } from './helpers/assert-close.js';

const TOL: Tol = { atol: 2e-6, rtol: 2e-6 };

const TORCH: Record<string, number[][]> = {
  plain: [[0.8899999856948853, -1.5699999332427979, 1.7799999713897705, 0.09999999403953552], [0.7910000085830688, -1.2259999513626099, 1.0479999780654907, 0.019999997690320015], [0.7019000053405762, -0.9507999420166016, 0.608799934387207, 0.003999999258667231]],
  momentum: [[0.8899999856948853, -1.5699999332427979, 1.7799999713897705, 0.09999999403953552], [0.6919999718666077, -0.8389999270439148, -0.04999997839331627, -0.3399999737739563], [0.43459996581077576, 0.016700102016329765, -1.6969999074935913, -0.4639999568462372]],
  nesterov: [[0.7910000085830688, -1.1829999685287476, 0.6820001006126404, -0.25999999046325684], [0.5326099991798401, -0.32815995812416077, -0.8625199198722839, -0.18879999220371246], [0.2600530982017517, 0.3829568028450012, -1.37155282497406, -0.024943996220827103]],
  weightDecay: [[0.8889999985694885, -1.5679999589920044, 1.777000069618225, 0.09949998557567596], [0.6893110275268555, -0.8340319991111755, -0.056276898831129074, -0.3406495153903961], [0.42997053265571594, 0.024179626256227493, -1.7036590576171875, -0.46392378211021423]],
  dampening: [[0.8899999856948853, -1.5699999332427979, 1.7799999713897705, 0.09999999403953552], [0.7414999604225159, -1.0109999179840088, 0.3160000145435333, -0.30000001192092896], [0.5657749772071838, -0.3917999267578125, -1.07479989528656, -0.5400000214576721]],
  adam: [[0.8999999761581421, -1.899999976158142, 2.9000000953674316, 0.4000000059604645], [0.800361156463623, -1.8001524209976196, 2.800100803375244, 0.3011874258518219], [0.7013824582099915, -1.700569748878479, 2.700374126434326, 0.2048712521791458]],
  adamWd: [[0.9500000476837158, -1.9500000476837158, 2.950000047683716, 0.44999998807907104], [0.9001381993293762, -1.9000661373138428, 2.90004563331604, 0.4003480076789856], [0.8505141735076904, -1.8502438068389893, 2.8501675128936768, 0.3513281047344208]],
};

const MAKERS: Record<string, (ps: Tensor[]) => Optimizer<{ lr: number }>> = {
  plain: (params) => new SGD({ params, lr: 0.1 }),
  momentum: (params) => new SGD({ params, lr: 0.1, momentum: 0.9 }),
  nesterov: (params) => new SGD({ params, lr: 0.1, momentum: 0.9, nesterov: true }),
  weightDecay: (params) => new SGD({ params, lr: 0.1, momentum: 0.9, weightDecay: 0.01 }),
  dampening: (params) => new SGD({ params, lr: 0.1, momentum: 0.9, dampening: 0.5 }),
  adam: (params) => new Adam({ params, lr: 0.1 }),
  adamWd: (params) => new Adam({ params, lr: 0.05, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.1 }),
};

function eachBackend(name: string, fn: () => void): void {
  for (const b of ['reference', 'native'] as BackendName[]) {
    test(`${b}: ${name}`, (t) => {
      if (b === 'native' && !cn.nativeAvailable()) {
        t.skip('native addon not built');
        return;
      }
      cn.withBackend(b, fn);
    });
  }
}

function quadraticStep(p: Tensor, opt: Optimizer<{ lr: number }>): void {
  cn.tidy(() => {
    opt.zeroGrad();
    const c = cn.tensor([0.5, 1.0, 2.0, 4.0]);
    const d = cn.tensor([0.1, -0.3, 0.2, 0.0]);
    const loss = c.mul(p).mul(p).sum().add(d.mul(p).sum());
    loss.backward();
    opt.step();
  });
}

for (const name of Object.keys(TORCH)) {
  eachBackend(`${name}: 3 steps match PyTorch`, () => {
    const p = new nn.Parameter(cn.tensor([1.0, -2.0, 3.0, 0.5]));
    const opt = MAKERS[name]!([p]);
    for (let s = 0; s < 3; s++) {
      quadraticStep(p, opt);
      assertClose(p.toArray(), TORCH[name]![s]!, TOL, `${name} step ${s + 1}`);
    }
    opt.zeroGrad();
    assert.equal(p.grad, null);
    p.dispose();
  });
}

eachBackend('state dict round trip resumes the trajectory exactly (SGD momentum and Adam)', () => {
  for (const name of ['momentum', 'adam'] as const) {
    const p = new nn.Parameter(cn.tensor([1.0, -2.0, 3.0, 0.5]));
    const opt = MAKERS[name]!([p]);
    quadraticStep(p, opt);
    const sd = opt.stateDict();
    const key = name === 'adam' ? 'exp_avg' : 'momentum_buffer';
    assert.ok(sd.state[0]![key] instanceof cn.Tensor, `${name}: state has ${key}`);
    assert.deepEqual(sd.paramGroups[0]!.params, [0]);
    assert.equal(sd.paramGroups[0]!.lr, 0.1);
    if (name === 'adam') assert.equal(sd.state[0]!.step, 1);

    // A second optimizer on a copy of the parameter, restored from the checkpoint.
    const q = new nn.Parameter(cn.tensor(p.toArray(), { shape: p.shape }));
    const opt2 = MAKERS[name]!([q]);
    opt2.lr = 0.5; // restored by loadStateDict
    opt2.loadStateDict(sd);
    assert.equal(opt2.lr, 0.1);
    for (let s = 1; s < 3; s++) {
      quadraticStep(p, opt);
      quadraticStep(q, opt2);
      assertClose(q.toArray(), TORCH[name]![s]!, TOL, `${name} resumed step ${s + 1}`);
      assertClose(q.toArray(), p.toArray(), { atol: 0, rtol: 0 }, `${name} resumed = uninterrupted`);
    }
    // The checkpoint was copied: the second optimizer does not share tensors with the first.
    assert.notEqual(opt2.stateDict().state[0]![key], opt.stateDict().state[0]![key]);
    assert.throws(() => opt2.loadStateDict({ ...sd, paramGroups: [] }), /the checkpoint has 0 parameter groups, the optimizer 1/);
    for (const t of [p, q]) t.dispose();
    opt.dispose();
    opt2.dispose();
  }
});

test('optimizer arguments: groups, lr setter, validation', () => {
  const a = new nn.Parameter(cn.zeros([2]));
  const b = new nn.Parameter(cn.zeros([3]));
  const opt = new SGD({ params: [{ params: [a] }, { params: [b], lr: 0.01 }], lr: 0.1, momentum: 0.9 });
  assert.equal(opt.paramGroups[0]!.lr, 0.1);
  assert.equal(opt.paramGroups[1]!.lr, 0.01);
  assert.equal(opt.paramGroups[1]!.momentum, 0.9);
  opt.lr = 0.05;
  assert.deepEqual(opt.paramGroups.map((g) => g.lr), [0.05, 0.05]);
  assert.throws(() => new SGD({ params: [a], lr: 0.1, nesterov: true }), /Nesterov momentum requires a momentum and zero dampening/);
  assert.throws(() => new SGD({ params: [a, a], lr: 0.1 }), /appears more than once/);
  assert.throws(() => new Adam({ params: [cn.zeros([2])] }), /does not require grad/);
  assert.throws(() => new Adam({ params: [a], betas: [1, 0.9] }), /invalid beta 1/);
  a.dispose();
  b.dispose();
});

eachBackend('200 training steps keep memoryInUse flat (SGD momentum + Adam on a small MLP with BatchNorm)', () => {
  for (const which of ['sgd', 'adam'] as const) {
    const k = cn.getBackend();
    const start = k.memoryInUse();
    const net = new nn.Sequential(new nn.Linear(6, 8), new nn.BatchNorm1d(8), new nn.ReLU(), new nn.Linear(8, 3));
    const opt = which === 'sgd'
      ? new SGD({ params: net.parameters(), lr: 0.05, momentum: 0.9, weightDecay: 1e-4, nesterov: true })
      : new Adam({ params: net.parameters(), lr: 1e-3, weightDecay: 1e-4 });
    const gen = new cn.Generator(1);
    let after = -1;
    for (let i = 0; i < 200; i++) {
      cn.tidy(() => {
        const x = cn.randn([8, 6], { generator: gen });
        const y = cn.randint(0, 3, [8], { generator: gen });
        opt.zeroGrad();
        const loss = cn.crossEntropy(net.call(x), y);
        loss.backward();
        opt.step();
      });
      if (i === 2) after = k.memoryInUse();
      if (i > 2) assert.equal(k.memoryInUse(), after, `${which}: live bytes changed at step ${i + 1}`);
    }
    opt.zeroGrad();
    opt.dispose();
    net.dispose();
    assert.equal(k.memoryInUse(), start, `${which}: everything freed`);
  }
});
