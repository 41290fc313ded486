#!/usr/bin/env python3
"""F.cross_entropy with label_smoothing (PyTorch 1.13): values and gradients, the fixture of
test/ops-label-smoothing.test.ts:

  /usr/bin/python3 test/py/label_smoothing.py > test/fixtures/label-smoothing.json

Logits [5, 4] and targets are fixed below; for each smoothing and reduction, the loss and the
gradient of sum(w * loss) (w = the per-row weights for reduction 'none', 1 otherwise).
"""
import json
import sys

import torch
import torch.nn.functional as F

LOGITS = [[2.0, -1.0, 0.5, 0.0], [0.1, 0.2, 0.3, 0.4], [-3.0, 4.0, 1.0, -0.5], [1.5, 1.5, -2.0, 0.25], [0.0, 0.0, 0.0, 0.0]]
TARGET = [0, 3, 1, 2, 1]
W = [1.0, -0.5, 2.0, 0.25, 3.0]

cases = []
for eps in [0.0, 0.1, 0.25, 0.6, 1.0]:
    for reduction in ['mean', 'sum', 'none']:
        x = torch.tensor(LOGITS, requires_grad=True)
        y = torch.tensor(TARGET)
        loss = F.cross_entropy(x, y, reduction=reduction, label_smoothing=eps)
        (loss * torch.tensor(W)).sum().backward() if reduction == 'none' else loss.backward()
        cases.append({'labelSmoothing': eps, 'reduction': reduction,
                      'loss': loss.tolist(), 'grad': x.grad.tolist()})
json.dump({'torch': torch.__version__, 'logits': LOGITS, 'target': TARGET, 'weights': W, 'cases': cases}, sys.stdout, indent=1)
sys.stdout.write('\n')
