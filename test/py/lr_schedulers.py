#!/usr/bin/env python3
"""Learning-rate trajectories of torch.optim.lr_scheduler (PyTorch 1.13), the fixture of
test/optim-lr-scheduler.test.ts:

  /usr/bin/python3 test/py/lr_schedulers.py > test/fixtures/lr-schedulers.json

Each case builds an optimizer with two parameter groups (lr 0.1 and 0.03; SGD with momentum 0.9,
or Adam), constructs the scheduler(s) and records, after construction and after each of `steps`
calls of optimizer.step() + scheduler.step(), every group's lr (and its momentum / beta1 where
OneCycleLR cycles it). The TypeScript test builds the same schedulers from `spec` and compares.
"""
import json
import sys
import warnings

import torch
from torch.optim import lr_scheduler as S

warnings.simplefilter('ignore')


def make_optimizer(kind):
    a = torch.nn.Parameter(torch.zeros(2))
    b = torch.nn.Parameter(torch.zeros(3))
    groups = [{'params': [a], 'lr': 0.1}, {'params': [b], 'lr': 0.03}]
    if kind == 'sgd':
        return torch.optim.SGD(groups, lr=0.1, momentum=0.9)
    if kind == 'sgd0':
        return torch.optim.SGD(groups, lr=0.1)
    return torch.optim.Adam(groups, lr=0.1)


def build(spec, opt):
    t = spec['type']
    if t == 'StepLR':
        return S.StepLR(opt, step_size=spec['stepSize'], gamma=spec.get('gamma', 0.1))
    if t == 'MultiStepLR':
        return S.MultiStepLR(opt, milestones=spec['milestones'], gamma=spec.get('gamma', 0.1))
    if t == 'CosineAnnealingLR':
        return S.CosineAnnealingLR(opt, T_max=spec['tMax'], eta_min=spec.get('etaMin', 0))
    if t == 'LinearLR':
        return S.LinearLR(opt, start_factor=spec.get('startFactor', 1 / 3), end_factor=spec.get('endFactor', 1.0),
                          total_iters=spec.get('totalIters', 5))
    if t == 'OneCycleLR':
        return S.OneCycleLR(opt, max_lr=spec['maxLr'], total_steps=spec['totalSteps'], pct_start=spec.get('pctStart', 0.3),
                            anneal_strategy=spec.get('annealStrategy', 'cos'), cycle_momentum=spec.get('cycleMomentum', True),
                            base_momentum=spec.get('baseMomentum', 0.85), max_momentum=spec.get('maxMomentum', 0.95),
                            div_factor=spec.get('divFactor', 25.0), final_div_factor=spec.get('finalDivFactor', 1e4),
                            three_phase=spec.get('threePhase', False))
    if t == 'SequentialLR':
        inner = [build(s, opt) for s in spec['schedulers']]
        return S.SequentialLR(opt, schedulers=inner, milestones=spec['milestones'])
    raise ValueError(t)


CASES = [
    ('step', 'sgd', {'type': 'StepLR', 'stepSize': 3, 'gamma': 0.5}, 12),
    ('step-default-gamma', 'adam', {'type': 'StepLR', 'stepSize': 2}, 7),
    ('multistep', 'sgd', {'type': 'MultiStepLR', 'milestones': [2, 5, 5, 9], 'gamma': 0.3}, 12),
    ('cosine', 'sgd', {'type': 'CosineAnnealingLR', 'tMax': 10, 'etaMin': 0.001}, 25),
    ('cosine-7', 'adam', {'type': 'CosineAnnealingLR', 'tMax': 7}, 10),
    ('linear-warmup', 'sgd', {'type': 'LinearLR', 'startFactor': 0.1, 'totalIters': 4}, 8),
    ('linear-decay', 'sgd', {'type': 'LinearLR', 'startFactor': 1.0, 'endFactor': 0.2, 'totalIters': 5}, 8),
    ('linear-default', 'sgd', {'type': 'LinearLR'}, 7),
    ('onecycle-sgd', 'sgd', {'type': 'OneCycleLR', 'maxLr': [0.1, 0.05], 'totalSteps': 20}, 20),
    ('onecycle-sgd-no-momentum', 'sgd0', {'type': 'OneCycleLR', 'maxLr': 0.2, 'totalSteps': 13, 'pctStart': 0.25}, 13),
    ('onecycle-adam-linear-3phase', 'adam', {'type': 'OneCycleLR', 'maxLr': 0.01, 'totalSteps': 30, 'annealStrategy': 'linear',
                                              'threePhase': True, 'divFactor': 10.0, 'finalDivFactor': 100.0}, 30),
    ('onecycle-no-cycle-momentum', 'sgd', {'type': 'OneCycleLR', 'maxLr': 0.1, 'totalSteps': 10, 'cycleMomentum': False}, 10),
    ('warmup-cosine', 'sgd', {'type': 'SequentialLR', 'milestones': [3], 'schedulers': [
        {'type': 'LinearLR', 'startFactor': 0.1, 'totalIters': 3}, {'type': 'CosineAnnealingLR', 'tMax': 7}]}, 12),
    ('warmup-step', 'sgd', {'type': 'SequentialLR', 'milestones': [2], 'schedulers': [
        {'type': 'LinearLR', 'startFactor': 0.25, 'totalIters': 2}, {'type': 'StepLR', 'stepSize': 3, 'gamma': 0.5}]}, 10),
    ('sequential-3', 'adam', {'type': 'SequentialLR', 'milestones': [2, 6], 'schedulers': [
        {'type': 'LinearLR', 'startFactor': 0.5, 'totalIters': 2}, {'type': 'MultiStepLR', 'milestones': [1, 3], 'gamma': 0.5},
        {'type': 'CosineAnnealingLR', 'tMax': 5, 'etaMin': 0.002}]}, 12),
]


def snapshot(opt):
    out = {'lr': [g['lr'] for g in opt.param_groups]}
    if 'betas' in opt.defaults:
        out['beta1'] = [g['betas'][0] for g in opt.param_groups]
    else:
        out['momentum'] = [g['momentum'] for g in opt.param_groups]
    return out


def main():
    cases = []
    for name, kind, spec, steps in CASES:
        opt = make_optimizer(kind)
        sched = build(spec, opt)
        traj = [snapshot(opt)]
        for _ in range(steps):
            opt.step()
            sched.step()
            traj.append(snapshot(opt))
        cases.append({'name': name, 'optimizer': kind, 'spec': spec, 'steps': steps, 'trajectory': traj})
    json.dump({'torch': torch.__version__, 'cases': cases}, sys.stdout, indent=1)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
