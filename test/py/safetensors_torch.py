#!/usr/bin/env python3
"""PyTorch side of test/io-safetensors.test.ts: exchanges zoo-model weights with convnet through
safetensors files, read and written here with plain Python (struct + json + torch.frombuffer),
independently of convnet's implementation (Debian has no python3-safetensors).

  safetensors_torch.py check  MODEL SIZE WEIGHTS IO
      Loads convnet's WEIGHTS into the PyTorch definition of MODEL (bench/torch_train.py) with
      load_state_dict(strict=True), runs IO['input'] in eval mode and compares with IO['logits'].
      Prints JSON {"maxAbsDiff": ..., "maxAbsLogit": ..., "numKeys": ..., "shape": [...]}.
  safetensors_torch.py export MODEL SIZE WEIGHTS IO
      Builds MODEL in PyTorch (seed 0), updates its BatchNorm statistics with two train-mode
      forwards, writes its state_dict to WEIGHTS and {input, logits (eval mode)} to IO.
      Prints JSON {"numKeys": ...}.

The models are wrapped in a module whose body is `self.net`, as d2l's Classifier, so the names are
convnet's (`net.0.weight`).
"""
import json
import os
import struct
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'bench'))
import torch_train  # noqa: E402  (PyTorch definitions of every zoo model)

# torch.frombuffer and tobytes use the machine's byte order; the format is little-endian.
assert sys.byteorder == 'little', 'this helper assumes a little-endian machine'

DTYPES = {'F32': torch.float32, 'F64': torch.float64, 'F16': torch.float16, 'I64': torch.int64,
          'I32': torch.int32, 'U8': torch.uint8}
NAMES = {v: k for k, v in DTYPES.items()}


def read_safetensors(path):
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n].decode('utf-8'))
    header.pop('__metadata__', None)
    data = bytearray(raw[8 + n:])
    out = {}
    for name, info in header.items():
        begin, end = info['data_offsets']
        dtype = DTYPES[info['dtype']]
        if end > begin:
            t = torch.frombuffer(data[begin:end], dtype=dtype)
        else:
            t = torch.empty(0, dtype=dtype)
        out[name] = t.reshape(info['shape']).clone()
    return out


def write_safetensors(path, tensors, metadata=None):
    header = {}
    if metadata:
        header['__metadata__'] = metadata
    chunks = []
    offset = 0
    for name, t in tensors.items():
        b = t.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {'dtype': NAMES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    h = json.dumps(header).encode('utf-8')
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in chunks:
            f.write(b)


class D2L(nn.Module):
    """d2l's Classifier layout: the network is `self.net`."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)


def build(name, size):
    """torch_train.build(name) without its MODELS factory call for 'densenet', which passes
    num_classes positionally into densenet()'s first parameter, num_channels (densenet(10) has 10
    stem channels instead of 64); the other factories take num_classes first."""
    if name == 'densenet':
        net = torch_train.densenet(num_classes=10)
    else:
        net = torch_train.MODELS[name][0](10)
    net.eval()
    with torch.no_grad():
        net(torch.zeros(1, 1, size, size))  # materialize the lazy layers
    net.train()
    net.apply(torch_train.init_cnn)
    return D2L(net)


def main():
    mode, name, size, weights, io = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build(name, size)
    if mode == 'check':
        sd = read_safetensors(weights)
        model.load_state_dict(sd, strict=True)
        model.eval()
        data = read_safetensors(io)
        with torch.no_grad():
            logits = model(data['input'])
        diff = (logits - data['logits']).abs().max().item()
        print(json.dumps({'maxAbsDiff': diff, 'maxAbsLogit': logits.abs().max().item(), 'numKeys': len(sd),
                          'shape': list(logits.shape)}))
    elif mode == 'export':
        model.train()
        with torch.no_grad():
            for _ in range(2):
                model(torch.randn(4, 1, size, size))
        model.eval()
        x = torch.randn(2, 1, size, size)
        with torch.no_grad():
            logits = model(x)
        sd = model.state_dict()
        write_safetensors(weights, sd, {'producer': 'test/py/safetensors_torch.py'})
        write_safetensors(io, {'input': x, 'logits': logits})
        print(json.dumps({'numKeys': len(sd)}))
    else:
        sys.exit(f'unknown mode {mode!r}')


if __name__ == '__main__':
    main()
