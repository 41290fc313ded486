#!/usr/bin/env python3
"""The lecture's training recipe in PyTorch, for side-by-side accuracy checks with convnet.

  /usr/bin/python3 bench/torch_fashion.py [--model bnlenet] [--epochs 10] [--lr LR] [--batch-size 128]
                                          [--seed 0] [--threads 2] [--root /usr/share/datasets/fashion-mnist]

Reads Debian's Fashion-MNIST IDX files (no download), scales pixels to [0, 1] (d2l's ToTensor),
resizes bilinearly to the model's input size when it is not 28 (d2l's Resize), builds the model
from bench/torch_train.py, runs d2l's `apply_init(init_cnn)` on a first batch and trains with
minibatch SGD and cross-entropy, shuffling the training set each epoch. Prints one JSON line per
epoch: epoch, train_loss, val_loss, val_acc, images_per_s, seconds.
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

    def resize(x):
        return x if size == 28 else F.interpolate(x, size=(size, size), mode='bilinear', align_corners=False)

    model = build(10)
    model(resize(xt[:a.batch_size]))
    model.apply(torch_train.init_cnn)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    n = xt.shape[0]
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
