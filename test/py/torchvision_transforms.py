#!/usr/bin/env python3
"""torchvision 0.14's functional transforms on float tensors with fixed parameters, the fixture of
test/data-augment.test.ts:

  /usr/bin/python3 test/py/torchvision_transforms.py > test/fixtures/torchvision-transforms.json

Two test images (1x12x10 and 3x9x11, values in [0, 1] from a fixed formula, written out too), and
for each case the function, its parameters and the output (flattened, row-major [C, H, W]).
"""
import json
import sys
import warnings

import torch
import torchvision
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode

warnings.simplefilter('ignore')


def image(c, h, w, salt):
    n = c * h * w
    vals = [((i * 37 + salt * 11) % 101) / 100.0 for i in range(n)]
    return torch.tensor(vals, dtype=torch.float32).reshape(c, h, w)


IMAGES = {'grey': image(1, 12, 10, 1), 'rgb': image(3, 9, 11, 2)}
NEAREST, BILINEAR = InterpolationMode.NEAREST, InterpolationMode.BILINEAR

CASES = [
    ('resizedCrop', 'grey', {'top': 2, 'left': 1, 'height': 7, 'width': 6, 'size': [12, 10]}),
    ('resizedCrop', 'grey', {'top': 0, 'left': 0, 'height': 12, 'width': 10, 'size': [5, 4]}),
    ('resizedCrop', 'rgb', {'top': 1, 'left': 3, 'height': 5, 'width': 8, 'size': [9, 11]}),
    ('rotate', 'grey', {'angle': 33.0, 'interpolation': 'nearest', 'fill': None}),
    ('rotate', 'grey', {'angle': 17.5, 'interpolation': 'bilinear', 'fill': None}),
    ('rotate', 'grey', {'angle': -23.0, 'interpolation': 'nearest', 'fill': [0.0]}),
    ('rotate', 'grey', {'angle': 41.0, 'interpolation': 'bilinear', 'fill': [0.0]}),
    ('rotate', 'rgb', {'angle': -40.0, 'interpolation': 'bilinear', 'fill': [0.1, 0.2, 0.3]}),
    ('rotate', 'rgb', {'angle': 12.0, 'interpolation': 'nearest', 'fill': [0.5], 'center': [3, 4]}),
    ('affine', 'grey', {'angle': 12.0, 'translate': [2, -1], 'scale': 1.15, 'shear': [8.0, -5.0], 'interpolation': 'nearest', 'fill': [0.0]}),
    ('affine', 'grey', {'angle': -7.0, 'translate': [-1, 2], 'scale': 0.9, 'shear': [0.0, 11.0], 'interpolation': 'bilinear', 'fill': [0.0]}),
    ('affine', 'rgb', {'angle': 25.0, 'translate': [1, 1], 'scale': 1.0, 'shear': [-6.0, 0.0], 'interpolation': 'bilinear', 'fill': None}),
    ('adjustBrightness', 'grey', {'factor': 0.6}),
    ('adjustBrightness', 'rgb', {'factor': 1.7}),
    ('adjustContrast', 'grey', {'factor': 0.4}),
    ('adjustContrast', 'grey', {'factor': 1.8}),
    ('adjustContrast', 'rgb', {'factor': 1.5}),
    ('erase', 'grey', {'top': 2, 'left': 3, 'height': 4, 'width': 5, 'value': 0.25}),
    ('erase', 'rgb', {'top': 0, 'left': 6, 'height': 9, 'width': 2, 'value': [0.1, 0.5, 0.9]}),
    ('gaussianBlur', 'grey', {'kernelSize': [5, 3], 'sigma': [1.3, 0.7]}),
    ('gaussianBlur', 'rgb', {'kernelSize': [3, 3], 'sigma': [0.5, 0.5]}),
    ('gaussianBlur', 'grey', {'kernelSize': [9, 9], 'sigma': [2.0, 2.0]}),
]


def run(fn, img, p):
    mode = {'nearest': NEAREST, 'bilinear': BILINEAR}
    if fn == 'resizedCrop':
        return F.resized_crop(img, p['top'], p['left'], p['height'], p['width'], p['size'], interpolation=BILINEAR)
    if fn == 'rotate':
        return F.rotate(img, p['angle'], interpolation=mode[p['interpolation']], fill=p['fill'], center=p.get('center'))
    if fn == 'affine':
        return F.affine(img, angle=p['angle'], translate=p['translate'], scale=p['scale'], shear=p['shear'],
                        interpolation=mode[p['interpolation']], fill=p['fill'])
    if fn == 'adjustBrightness':
        return F.adjust_brightness(img, p['factor'])
    if fn == 'adjustContrast':
        return F.adjust_contrast(img, p['factor'])
    if fn == 'erase':
        v = p['value']
        v = torch.tensor(v, dtype=torch.float32).view(-1, 1, 1) if isinstance(v, list) else torch.tensor(v)
        return F.erase(img, p['top'], p['left'], p['height'], p['width'], v)
    if fn == 'gaussianBlur':
        return F.gaussian_blur(img, p['kernelSize'], p['sigma'])
    raise ValueError(fn)


def stats(rows):
    """Mean and standard deviation of each column."""
    t = torch.tensor(rows, dtype=torch.float64)
    return {'mean': t.mean(0).tolist(), 'std': t.std(0).tolist(), 'n': len(rows)}


def sampling(n=20000):
    """Statistics of the sampled parameters of the random transforms (torch's generator, seed 0)."""
    from torchvision import transforms as T
    torch.manual_seed(0)
    grey = torch.zeros(1, 28, 28)
    wide = torch.zeros(1, 20, 40)
    res = {}
    res['randomResizedCrop 28x28 default'] = stats([T.RandomResizedCrop.get_params(grey, [0.08, 1.0], [3 / 4, 4 / 3]) for _ in range(n)])
    res['randomResizedCrop 20x40 scale 0.5-1 ratio 0.5-1'] = stats([T.RandomResizedCrop.get_params(wide, [0.5, 1.0], [0.5, 1.0]) for _ in range(n)])
    rows = []
    for _ in range(n):
        i, j, h, w, _v = T.RandomErasing.get_params(grey, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=[0.0])
        rows.append([i, j, h, w])
    res['randomErasing 28x28 default'] = stats(rows)
    rows = []
    for _ in range(n):
        angle, (tx, ty), scale, (sx, sy) = T.RandomAffine.get_params([-10.0, 10.0], [0.1, 0.2], [0.8, 1.2], [-5.0, 5.0, -3.0, 3.0], [40, 20])
        rows.append([angle, tx, ty, scale, sx, sy])
    res['randomAffine 40x20 degrees 10 translate 0.1,0.2 scale 0.8-1.2 shear 5,3'] = stats(rows)
    return res


out = {'torchvision': torchvision.__version__, 'torch': torch.__version__,
       'images': {k: {'shape': list(v.shape), 'data': v.flatten().tolist()} for k, v in IMAGES.items()}, 'cases': []}
for fn, name, p in CASES:
    y = run(fn, IMAGES[name].clone(), p)
    out['cases'].append({'fn': fn, 'image': name, 'params': p, 'shape': list(y.shape), 'output': y.flatten().tolist()})
out['sampling'] = sampling()
json.dump(out, sys.stdout)
sys.stdout.write('\n')
