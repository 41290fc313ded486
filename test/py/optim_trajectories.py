#!/usr/bin/env python3
"""PyTorch's SGD / Adam / AdamW trajectories for test/optim-fused.test.ts (run by the test).

For every case: parameters of a few shapes (seeded random values), a fixed random gradient per
step and parameter (independent of the parameters, so both sides receive exactly the same grads),
and the parameters (and the optimizer state) after every step of torch.optim's default CPU path
(the single-tensor implementation in torch 1.13). Prints one JSON object; float32 values are given
as their exact decimal doubles.

  /usr/bin/python3 test/py/optim_trajectories.py
"""
import json

import torch

SHAPES = [[7], [3, 5], [4, 3, 3, 3]]
STEPS = 6

CASES = [
    ('sgd', 'plain', dict(lr=0.1)),
    ('sgd', 'momentum', dict(lr=0.1, momentum=0.9)),
    ('sgd', 'dampening', dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ('sgd', 'nesterov', dict(lr=0.1, momentum=0.9, nesterov=True)),
    ('sgd', 'weightDecay', dict(lr=0.1, momentum=0.8, weight_decay=0.05)),
    ('sgd', 'maximize', dict(lr=0.03, momentum=0.5, weight_decay=0.01, maximize=True)),
    ('sgd', 'nesterovDecayMaximize', dict(lr=0.2, momentum=0.7, nesterov=True, weight_decay=0.02, maximize=True)),
    ('adam', 'adam', dict(lr=0.01)),
    ('adam', 'adamDecay', dict(lr=0.02, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    ('adam', 'adamMaximize', dict(lr=0.01, betas=(0.85, 0.99), weight_decay=0.05, maximize=True)),
    ('adamw', 'adamw', dict(lr=0.01, weight_decay=0.1)),
    ('adamw', 'adamwMaximize', dict(lr=0.03, betas=(0.7, 0.9), eps=1e-5, weight_decay=0.2, maximize=True)),
]


def rows(ts):
    return [t.detach().reshape(-1).tolist() for t in ts]


def run(kind, hyper, seed):
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=g).requires_grad_() for s in SHAPES]
    p0 = rows(params)
    make = {'sgd': torch.optim.SGD, 'adam': torch.optim.Adam, 'adamw': torch.optim.AdamW}[kind]
    opt = make(params, **hyper)
    grads, traj, state = [], [], []
    for _ in range(STEPS):
        gs = [torch.randn(s, generator=g) * 0.5 for s in SHAPES]
        for p, gr in zip(params, gs):
            p.grad = gr.clone()
        opt.step()
        grads.append(rows(gs))
        traj.append(rows(params))
        if kind == 'sgd':
            st = [opt.state[p].get('momentum_buffer') for p in params]
            state.append([] if st[0] is None else rows(st))
        else:
            state.append([rows([opt.state[p]['exp_avg'] for p in params]),
                          rows([opt.state[p]['exp_avg_sq'] for p in params])])
    return {'p0': p0, 'grads': grads, 'traj': traj, 'state': state}


def main():
    out = {'torch': torch.__version__, 'shapes': SHAPES, 'steps': STEPS, 'cases': []}
    for i, (kind, name, hyper) in enumerate(CASES):
        r = run(kind, hyper, 100 + i)
        r.update({'kind': kind, 'name': name, 'hyper': {k: list(v) if isinstance(v, tuple) else v for k, v in hyper.items()}})
        out['cases'].append(r)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
