#!/usr/bin/env python3
"""Initial-weight statistics of the lecture's AlexNet and DenseNet in PyTorch 1.13, the fixture of
test/models-init.test.ts:

  /usr/bin/python3 test/py/default_init.py > test/fixtures/default-init.json

'default': built as the notebook does — `net.apply(init_cnn)` in the constructor, on still-lazy
layers, where it does nothing — then materialized by one forward: PyTorch's default init
(kaiming_uniform(a=sqrt(5)) weights, U(+-1/sqrt(fan_in)) biases). 'xavier': d2l's apply_init
(a forward first, then init_cnn). Per parameter (state-dict name): numel, mean, std, max |v| and
the kurtosis E[x^4] / std^4 (1.8 for a uniform distribution, 3 for a normal one).
"""
import json
import os
import sys
import warnings

import torch

warnings.simplefilter('ignore')
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'bench'))
import torch_train  # noqa: E402


def stats(model):
    out = {}
    for name, p in model.state_dict().items():
        if not name.endswith(('weight', 'bias')) or p.dim() == 0:
            continue
        x = p.detach().double().flatten()
        sd = x.std(unbiased=False).item()
        out[name] = {'numel': x.numel(), 'mean': x.mean().item(), 'std': sd, 'maxabs': x.abs().max().item(),
                     'kurtosis': ((x - x.mean()) ** 4).mean().item() / sd ** 4 if sd > 0 else 0.0}
    return out


def build(name, size, xavier):
    torch.manual_seed(0)
    model = torch_train.MODELS[name][0](10)
    model.apply(torch_train.init_cnn)  # the notebook's constructor: a no-op on lazy layers
    with torch.no_grad():
        model.eval()
        model(torch.zeros(2, 1, size, size))
    if xavier:
        model.apply(torch_train.init_cnn)  # apply_init: after the forward
    return stats(model)


json.dump({'torch': torch.__version__, 'models': {
    'alexnet': {'default': build('alexnet', 224, False), 'xavier': build('alexnet', 224, True)},
    'densenet': {'default': build('densenet', 96, False)},
}}, sys.stdout, indent=0)
sys.stdout.write('\n')
