#!/usr/bin/env python3
"""PyTorch definitions of every convnet zoo model, and the PyTorch side of bench/train.ts.

The definitions follow the lecture (d2l's LazyConv2d style) so that layer output shapes and parameter
counts can be compared one to one with src/models/*.ts.

  python3 bench/torch_train.py --summary [--models a,b]          # JSON: shapes + parameter counts
  python3 bench/torch_train.py --models alexnet,nin --steps 3 --batch-size 128 [--threads 2]
                                [--autocast bf16]                 # JSON lines: training images/s
  python3 bench/torch_train.py --serve [--threads 2]              # one JSON request per stdin line

Each benchmark step is what d2l's Trainer does per batch: forward, cross-entropy, zero_grad,
backward, SGD step. Inputs are random [B, C, H, W] float32 with random labels (the data pipeline
is not measured); the first step (warm-up) is excluded. With `--autocast bf16` the forward pass and
the loss run under PyTorch's own CPU mixed precision, `torch.autocast('cpu', dtype=torch.bfloat16)`
(backward and the SGD step outside it, as PyTorch recommends).

`--serve` keeps one process (torch imported once) for bench/train.ts, which alternates with it:
each stdin line {"model", "steps", "batchSize", "minSeconds", "autocast": null | "bf16"} gets one
stdout line, the result JSON or {"error": "..."}.
"""
import argparse
import contextlib
import json
import sys
import time
import warnings

import torch
from torch import nn
from torch.nn import functional as F

warnings.filterwarnings('ignore', message='Lazy modules')


def init_cnn(module):
    """d2l.init_cnn: Xavier-uniform weights for Conv2d and Linear."""
    if type(module) in (nn.Linear, nn.Conv2d):
        nn.init.xavier_uniform_(module.weight)


# ---- LeNet family (28x28) ------------------------------------------------------------------
def lenet(num_classes=10):
    """d2l's LeNet (sigmoid, average pooling, padding 2 on the first conv)."""
    return nn.Sequential(
        nn.LazyConv2d(6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.LazyConv2d(16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.LazyLinear(120), nn.Sigmoid(),
        nn.LazyLinear(84), nn.Sigmoid(),
        nn.LazyLinear(num_classes))


def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum):
    if not torch.is_grad_enabled():
        X_hat = (X - moving_mean) / torch.sqrt(moving_var + eps)
    else:
        assert len(X.shape) in (2, 4)
        if len(X.shape) == 2:
            mean = X.mean(dim=0)
            var = ((X - mean) ** 2).mean(dim=0)
        else:
            mean = X.mean(dim=(0, 2, 3), keepdim=True)
            var = ((X - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        X_hat = (X - mean) / torch.sqrt(var + eps)
        moving_mean = (1.0 - momentum) * moving_mean + momentum * mean
        moving_var = (1.0 - momentum) * moving_var + momentum * var
    Y = gamma * X_hat + beta
    return Y, moving_mean.data, moving_var.data


class BatchNorm(nn.Module):
    """The lecture's from-scratch batch norm."""

    def __init__(self, num_features, num_dims):
        super().__init__()
        shape = (1, num_features) if num_dims == 2 else (1, num_features, 1, 1)
        self.gamma = nn.Parameter(torch.ones(shape))
        self.beta = nn.Parameter(torch.zeros(shape))
        self.moving_mean = torch.zeros(shape)
        self.moving_var = torch.ones(shape)

    def forward(self, X):
        Y, self.moving_mean, self.moving_var = batch_norm(
            X, self.gamma, self.beta, self.moving_mean, self.moving_var, eps=1e-5, momentum=0.1)
        return Y


def bnlenet_scratch(num_classes=10):
    return nn.Sequential(
        nn.LazyConv2d(6, kernel_size=5), BatchNorm(6, num_dims=4),
        nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.LazyConv2d(16, kernel_size=5), BatchNorm(16, num_dims=4),
        nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(), nn.LazyLinear(120),
        BatchNorm(120, num_dims=2), nn.Sigmoid(), nn.LazyLinear(84),
        BatchNorm(84, num_dims=2), nn.Sigmoid(),
        nn.LazyLinear(num_classes))


def bnlenet(num_classes=10):
    return nn.Sequential(
        nn.LazyConv2d(6, kernel_size=5), nn.LazyBatchNorm2d(),
        nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.LazyConv2d(16, kernel_size=5), nn.LazyBatchNorm2d(),
        nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(), nn.LazyLinear(120), nn.LazyBatchNorm1d(),
        nn.Sigmoid(), nn.LazyLinear(84), nn.LazyBatchNorm1d(),
        nn.Sigmoid(), nn.LazyLinear(num_classes))


# ---- AlexNet, VGG, NiN (224x224) -----------------------------------------------------------
def alexnet(num_classes=10):
    return nn.Sequential(
        nn.LazyConv2d(96, kernel_size=11, stride=4, padding=1),
        nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=2),
        nn.LazyConv2d(256, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.LazyConv2d(384, kernel_size=3, padding=1), nn.ReLU(),
        nn.LazyConv2d(384, kernel_size=3, padding=1), nn.ReLU(),
        nn.LazyConv2d(256, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2), nn.Flatten(),
        nn.LazyLinear(4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.LazyLinear(4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.LazyLinear(num_classes))


def vgg_block(num_convs, out_channels):
    layers = []
    for _ in range(num_convs):
        layers.append(nn.LazyConv2d(out_channels, kernel_size=3, padding=1))
        layers.append(nn.ReLU())
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


VGG_ARCHS = {
    'vgg11': ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)),
    'vgg16': ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)),
    'vgg19': ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512)),
    'vgg11-slim': ((1, 16), (1, 32), (2, 64), (2, 128), (2, 128)),
}


def vgg(arch, num_classes=10):
    return nn.Sequential(
        *[vgg_block(n, c) for (n, c) in arch], nn.Flatten(),
        nn.LazyLinear(4096), nn.ReLU(), nn.Dropout(0.5),
        nn.LazyLinear(4096), nn.ReLU(), nn.Dropout(0.5),
        nn.LazyLinear(num_classes))


def nin_block(out_channels, kernel_size, strides, padding):
    return nn.Sequential(
        nn.LazyConv2d(out_channels, kernel_size, strides, padding), nn.ReLU(),
        nn.LazyConv2d(out_channels, kernel_size=1), nn.ReLU(),
        nn.LazyConv2d(out_channels, kernel_size=1), nn.ReLU())


def nin(num_classes=10):
    return nn.Sequential(
        nin_block(96, kernel_size=11, strides=4, padding=0),
        nn.MaxPool2d(3, stride=2),
        nin_block(256, kernel_size=5, strides=1, padding=2),
        nn.MaxPool2d(3, stride=2),
        nin_block(384, kernel_size=3, strides=1, padding=1),
        nn.MaxPool2d(3, stride=2),
        nn.Dropout(0.5),
        nin_block(num_classes, kernel_size=3, strides=1, padding=1),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten())


# ---- DenseNet (96x96) ------------------------------------------------------------------------
def conv_block(num_channels):
    return nn.Sequential(
        nn.LazyBatchNorm2d(), nn.ReLU(),
        nn.LazyConv2d(num_channels, kernel_size=3, padding=1))


class DenseBlock(nn.Module):
    def __init__(self, num_convs, num_channels):
        super().__init__()
        self.net = nn.Sequential(*[conv_block(num_channels) for _ in range(num_convs)])

    def forward(self, X):
        for blk in self.net:
            Y = blk(X)
            X = torch.cat((X, Y), dim=1)
        return X


def transition_block(num_channels):
    return nn.Sequential(
        nn.LazyBatchNorm2d(), nn.ReLU(),
        nn.LazyConv2d(num_channels, kernel_size=1),
        nn.AvgPool2d(kernel_size=2, stride=2))


def densenet(num_channels=64, growth_rate=32, arch=(4, 4, 4, 4), num_classes=10):
    """The lecture's DenseNet."""
    net = nn.Sequential(nn.Sequential(
        nn.LazyConv2d(64, kernel_size=7, stride=2, padding=3),
        nn.LazyBatchNorm2d(), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1)))
    for i, num_convs in enumerate(arch):
        net.add_module(f'dense_blk{i+1}', DenseBlock(num_convs, growth_rate))
        num_channels += num_convs * growth_rate
        if i != len(arch) - 1:
            num_channels //= 2
            net.add_module(f'tran_blk{i+1}', transition_block(num_channels))
    net.add_module('last', nn.Sequential(
        nn.LazyBatchNorm2d(), nn.ReLU(),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
        nn.LazyLinear(num_classes)))
    return net


def bottleneck_block(growth_rate, bn_size=4):
    """DenseNet-B: BN-ReLU-Conv1x1(4k)-BN-ReLU-Conv3x3(k), convolutions without bias."""
    return nn.Sequential(
        nn.LazyBatchNorm2d(), nn.ReLU(),
        nn.LazyConv2d(bn_size * growth_rate, kernel_size=1, bias=False),
        nn.LazyBatchNorm2d(), nn.ReLU(),
        nn.LazyConv2d(growth_rate, kernel_size=3, padding=1, bias=False))


class BottleneckDenseBlock(DenseBlock):
    def __init__(self, num_convs, growth_rate):
        nn.Module.__init__(self)
        self.net = nn.Sequential(*[bottleneck_block(growth_rate) for _ in range(num_convs)])


def compression_transition(num_channels):
    """DenseNet-C transition: BN-ReLU-Conv1x1 (no bias)-AvgPool 2x2."""
    return nn.Sequential(
        nn.LazyBatchNorm2d(), nn.ReLU(),
        nn.LazyConv2d(num_channels, kernel_size=1, bias=False),
        nn.AvgPool2d(kernel_size=2, stride=2))


DENSENET_BC = {'densenet121': (6, 12, 24, 16), 'densenet169': (6, 12, 32, 32), 'densenet201': (6, 12, 48, 32)}


def densenet_bc(arch, growth_rate=32, compression=0.5, num_classes=10):
    """Table 1 of Huang et al. 2017 (DenseNet-BC): 2k initial channels, bottleneck + compression."""
    num_channels = 2 * growth_rate
    net = nn.Sequential(nn.Sequential(
        nn.LazyConv2d(num_channels, kernel_size=7, stride=2, padding=3, bias=False),
        nn.LazyBatchNorm2d(), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1)))
    for i, num_convs in enumerate(arch):
        net.add_module(f'dense_blk{i+1}', BottleneckDenseBlock(num_convs, growth_rate))
        num_channels += num_convs * growth_rate
        if i != len(arch) - 1:
            num_channels = int(num_channels * compression)
            net.add_module(f'tran_blk{i+1}', compression_transition(num_channels))
    net.add_module('last', nn.Sequential(
        nn.LazyBatchNorm2d(), nn.ReLU(),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
        nn.LazyLinear(num_classes)))
    return net


# ---- ResNet-18 (d2l) (96x96) ----------------------------------------------------------------
class Residual(nn.Module):
    def __init__(self, num_channels, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = nn.LazyConv2d(num_channels, kernel_size=3, padding=1, stride=strides)
        self.conv2 = nn.LazyConv2d(num_channels, kernel_size=3, padding=1)
        self.conv3 = nn.LazyConv2d(num_channels, kernel_size=1, stride=strides) if use_1x1conv else None
        self.bn1 = nn.LazyBatchNorm2d()
        self.bn2 = nn.LazyBatchNorm2d()

    def forward(self, X):
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3:
            X = self.conv3(X)
        Y += X
        return F.relu(Y)


def resnet18(num_classes=10):
    arch = ((2, 64), (2, 128), (2, 256), (2, 512))
    net = nn.Sequential(nn.Sequential(
        nn.LazyConv2d(64, kernel_size=7, stride=2, padding=3),
        nn.LazyBatchNorm2d(), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1)))
    for i, (num_residuals, num_channels) in enumerate(arch):
        blk = []
        for j in range(num_residuals):
            if j == 0 and i != 0:
                blk.append(Residual(num_channels, use_1x1conv=True, strides=2))
            else:
                blk.append(Residual(num_channels))
        net.add_module(f'b{i+2}', nn.Sequential(*blk))
    net.add_module('last', nn.Sequential(
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.LazyLinear(num_classes)))
    return net


# name -> (factory(num_classes), input size, lr)
MODELS = {
    'lenet': (lenet, 28, 0.1),
    'bnlenet-scratch': (bnlenet_scratch, 28, 0.1),
    'bnlenet': (bnlenet, 28, 0.1),
    'alexnet': (alexnet, 224, 0.01),
    'vgg11': (lambda c=10: vgg(VGG_ARCHS['vgg11'], c), 224, 0.01),
    'vgg16': (lambda c=10: vgg(VGG_ARCHS['vgg16'], c), 224, 0.01),
    'vgg19': (lambda c=10: vgg(VGG_ARCHS['vgg19'], c), 224, 0.01),
    'vgg11-slim': (lambda c=10: vgg(VGG_ARCHS['vgg11-slim'], c), 224, 0.01),
    'nin': (nin, 224, 0.05),
    'densenet': (lambda c=10: densenet(num_classes=c), 96, 0.01),
    'densenet121': (lambda c=10: densenet_bc(DENSENET_BC['densenet121'], num_classes=c), 96, 0.01),
    'densenet169': (lambda c=10: densenet_bc(DENSENET_BC['densenet169'], num_classes=c), 96, 0.01),
    'densenet201': (lambda c=10: densenet_bc(DENSENET_BC['densenet201'], num_classes=c), 96, 0.01),
    'resnet18': (resnet18, 96, 0.01),
}


def build(name, in_channels=1, num_classes=10, size=None):
    factory, default_size, lr = MODELS[name]
    size = size or default_size
    net = factory(num_classes)
    net.eval()
    with torch.no_grad():
        net(torch.zeros(1, in_channels, size, size))  # materialize the lazy layers
    net.train()
    net.apply(init_cnn)
    return net, size, lr


def summary(name, in_channels=1, num_classes=10):
    net, size, _ = build(name, in_channels, num_classes)
    net.eval()
    X = torch.zeros(1, in_channels, size, size)
    rows = []
    with torch.no_grad():
        for child_name, layer in net.named_children():
            X = layer(X)
            rows.append({'name': child_name, 'type': type(layer).__name__, 'outputShape': list(X.shape),
                         'params': sum(p.numel() for p in layer.parameters())})
    return {'model': name, 'inChannels': in_channels, 'numClasses': num_classes, 'inputSize': size,
            'params': sum(p.numel() for p in net.parameters()), 'layers': rows}


def autocast_context(autocast):
    """The forward pass's context: PyTorch's bf16 CPU autocast, or nothing."""
    if autocast is None:
        return contextlib.nullcontext()
    if autocast == 'bf16':
        return torch.autocast('cpu', dtype=torch.bfloat16)
    raise ValueError(f'unknown autocast {autocast!r} (expected bf16)')


def bench(name, steps, batch_size, size=None, autocast=None):
    torch.manual_seed(0)
    net, size, lr = build(name, size=size)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    X = torch.randn(batch_size, 1, size, size)
    y = torch.randint(0, 10, (batch_size,))

    def step():
        with autocast_context(autocast):
            loss = F.cross_entropy(net(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - t0
    return {'model': name, 'size': size, 'batchSize': batch_size, 'steps': steps, 'seconds': seconds,
            'imagesPerSec': steps * batch_size / seconds, 'autocast': autocast}


def peak_rss():
    """The process's peak resident set size in bytes (VmHWM), or None off Linux."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def bench_min(name, steps, batch_size, min_seconds=0.0, size=None, autocast=None):
    """bench(), with the step count scaled so that fast models are timed for at least min_seconds."""
    r = bench(name, steps, batch_size, size, autocast)
    if min_seconds > 0 and r['seconds'] < min_seconds:
        per = r['seconds'] / steps
        r = bench(name, max(steps, int(min_seconds / max(per, 1e-6)) + 1), batch_size, size, autocast)
    r['torch'] = torch.__version__
    r['threads'] = torch.get_num_threads()
    r['peakRssBytes'] = peak_rss()  # of the whole process so far: one model per process for bench/memory.ts
    return r


def serve():
    """One benchmark per stdin line (JSON request), one JSON line back; torch is imported once."""
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            q = json.loads(line)
            if q['model'] not in MODELS:
                raise ValueError(f'unknown model {q["model"]!r}')
            r = bench_min(q['model'], int(q.get('steps', 3)), int(q.get('batchSize', 128)),
                          float(q.get('minSeconds', 0)), q.get('size'), q.get('autocast'))
        except Exception as e:  # reported to the caller, the server keeps running
            r = {'error': f'{type(e).__name__}: {e}'}
        print(json.dumps(r), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--models', default='alexnet,vgg11-slim,nin,bnlenet,densenet')
    p.add_argument('--steps', type=int, default=3, help='timed steps per model (after one warm-up step)')
    p.add_argument('--min-seconds', type=float, default=0.0,
                   help='keep stepping until this much time has passed (for fast models)')
    p.add_argument('--batch-size', type=int, default=128)
    p.add_argument('--size', type=int, default=None, help='override the input height/width')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--summary', action='store_true', help='print shapes and parameter counts instead')
    p.add_argument('--in-channels', type=int, default=1)
    p.add_argument('--num-classes', type=int, default=10)
    p.add_argument('--autocast', choices=['bf16'], default=None,
                   help="run forward and loss under torch.autocast('cpu', dtype=torch.bfloat16)")
    p.add_argument('--serve', action='store_true', help='answer JSON requests on stdin (bench/train.ts)')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.serve:
        serve()
        return
    names = list(MODELS) if a.models == 'all' else a.models.split(',')
    for n in names:
        if n not in MODELS:
            sys.exit(f'unknown model {n!r}; valid: {", ".join(MODELS)}')
    for n in names:
        if a.summary:
            print(json.dumps(summary(n, a.in_channels, a.num_classes)), flush=True)
        else:
            print(json.dumps(bench_min(n, a.steps, a.batch_size, a.min_seconds, a.size, a.autocast)), flush=True)


if __name__ == '__main__':
    main()
