#!/usr/bin/env python3
"""AdamW trajectories of PyTorch 1.13, the fixture of test/optim-adamw.test.ts:

  /usr/bin/python3 test/py/adamw.py > test/fixtures/adamw.json

5 steps on loss = sum(c * p * p) + sum(d * p), p0 = [1, -2, 3, 0.5], c = [0.5, 1, 2, 4],
d = [0.1, -0.3, 0.2, 0]; the parameter after each step, per configuration.
"""
import json
import sys

import torch

CONFIGS = {
    'defaults': {},
    'lr0.1': {'lr': 0.1},
    'wd0.1': {'lr': 0.05, 'weight_decay': 0.1},
    'betas-eps-wd': {'lr': 0.02, 'betas': [0.8, 0.99], 'eps': 1e-6, 'weight_decay': 0.5},
    'maximize': {'lr': 0.01, 'weight_decay': 0.2, 'maximize': True},
    'no-decay': {'lr': 0.1, 'weight_decay': 0.0},
}


def run(kwargs, steps=5):
    p = torch.tensor([1.0, -2.0, 3.0, 0.5], requires_grad=True)
    c = torch.tensor([0.5, 1.0, 2.0, 4.0])
    d = torch.tensor([0.1, -0.3, 0.2, 0.0])
    opt = torch.optim.AdamW([p], **kwargs)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        loss = (c * p * p).sum() + (d * p).sum()
        loss.backward()
        opt.step()
        out.append([float(v) for v in p.detach()])
    return out


def camel(k):
    head, *rest = k.split('_')
    return head + ''.join(w.title() for w in rest)


json.dump({'torch': torch.__version__, 'cases': [
    {'name': n, 'options': {camel(k): v for k, v in kw.items()}, 'trajectory': run(kw)} for n, kw in CONFIGS.items()
]}, sys.stdout, indent=1)
sys.stdout.write('\n')
