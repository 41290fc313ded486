#!/usr/bin/env python3
"""The lecture's training recipe in PyTorch, for side-by-side accuracy checks with convnet
(bench/accuracy.ts runs both sides).

  /usr/bin/python3 bench/torch_fashion.py [--model bnlenet] [--epochs 10] [--lr LR] [--batch-size 128]
                                          [--seed 0] [--threads 2] [--limit-train N] [--limit-val N]
                                          [--init lecture|default|xavier]
                                          [--root /usr/share/datasets/fashion-mnist]

Reads Debian's Fashion-MNIST IDX files (no download), scales pixels to [0, 1] (d2l's ToTensor),
optionally keeps only the first N training / validation images, resizes bilinearly to the model's
input size when it is not 28 (d2l's Resize), builds the model from bench/torch_train.py and
initializes it as the notebook does (`--init lecture`, the default): the model's constructor
applies init_cnn to still-lazy layers, which does nothing, so AlexNet and DenseNet (and
DenseNet-121/169/201) train from PyTorch's default init; for the others the notebook calls
d2l's `apply_init([next(iter(train_loader))[0]], init_cnn)`: one forward on a random training
batch in training mode (BatchNorm statistics move, as in d2l), then Xavier on every Conv2d /
Linear weight. `--init default` / `--init xavier` force one or the other for every model.
Then minibatch SGD with cross-entropy, shuffling the training set each epoch. Prints one JSON line
per epoch: epoch, train_loss, val_loss, val_acc, images_per_s, seconds.
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_train  # noqa: E402  (the zoo's PyTorch definitions)

# Models the notebook (or d2l's chapter for them) trains without apply_init: PyTorch's default init.
DEFAULT_INIT = {'alexnet', 'densenet', 'densenet121', 'densenet169', 'densenet201'}


def read_idx(path):
    with (gzip.open if path.endswith('.gz') else open)(path, 'rb') as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack('>' + 'I' * ndim, data[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


def find(root, stem):
    for name in (stem + '.gz', stem):
        p = os.path.join(root, name)
        if os.path.exists(p):
            return p
    raise SystemExit(f'torch_fashion: {stem}(.gz) not found in {root}')


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--model', default='bnlenet')
    p.add_argument('--epochs', type=int, default=10)
    p.add_argument('--lr', type=float, default=None)
    p.add_argument('--batch-size', type=int, default=128)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--limit-train', type=int, default=None, help='train on the first N training images')
    p.add_argument('--limit-val', type=int, default=None, help='validate on the first N test images')
    p.add_argument('--init', choices=['lecture', 'default', 'xavier'], default='lecture')
    p.add_argument('--root', default=os.environ.get('FASHION_MNIST_ROOT', '/usr/share/datasets/fashion-mnist'))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    build, size, lr = torch_train.MODELS[a.model]
    lr = a.lr if a.lr is not None else lr

    def load(prefix):
        x = read_idx(find(a.root, f'{prefix}-images-idx3-ubyte')).float().div_(255).unsqueeze(1)
        y = read_idx(find(a.root, f'{prefix}-labels-idx1-ubyte')).long()
        return x, y

    xt, yt = load('train')
    xv, yv = load('t10k')
    if a.limit_train is not None:
        xt, yt = xt[:a.limit_train], yt[:a.limit_train]
    if a.limit_val is not None:
        xv, yv = xv[:a.limit_val], yv[:a.limit_val]

    def resize(x):
        return x if size == 28 else F.interpolate(x, size=(size, size), mode='bilinear', align_corners=False)

    model = build(10)
    model.apply(torch_train.init_cnn)  # the constructor's apply: a no-op on lazy layers
    n = xt.shape[0]
    xavier = a.init == 'xavier' or (a.init == 'lecture' and a.model not in DEFAULT_INIT)
    if xavier:
        # d2l's apply_init: a forward (training mode, grad on) on a random training batch, then init_cnn.
        first = torch.randperm(n)[:a.batch_size]
        model(resize(xt[first]))
        model.apply(torch_train.init_cnn)
    else:
        # Materialize the lazy layers without touching any statistic (the first training step
        # would do it; the result is the same default init).
        model.eval()
        with torch.no_grad():
            model(resize(xt[:1]))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for epoch in range(1, a.epochs + 1):
        t0 = time.time()
        model.train()
        perm = torch.randperm(n)
        loss_sum = 0.0
        for i in range(0, n, a.batch_size):
            idx = perm[i:i + a.batch_size]
            x, y = resize(xt[idx]), yt[idx]
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
        train_s = time.time() - t0
        model.eval()
        vl = 0.0
        correct = 0
        with torch.no_grad():
            for i in range(0, xv.shape[0], a.batch_size):
                out = model(resize(xv[i:i + a.batch_size]))
                vl += F.cross_entropy(out, yv[i:i + a.batch_size], reduction='sum').item()
                correct += (out.argmax(1) == yv[i:i + a.batch_size]).sum().item()
        print(json.dumps({'epoch': epoch, 'train_loss': loss_sum / n, 'val_loss': vl / xv.shape[0],
                          'val_acc': correct / xv.shape[0], 'images_per_s': n / train_s,
                          'seconds': time.time() - t0}), flush=True)


if __name__ == '__main__':
    main()
