/**
 * The model zoo against PyTorch: every model's top-level layer types, output shapes and parameter
 * counts on its default input (batch 1), its total parameter count, and its parameter / state-dict
 * names, all hard-coded from `python3 bench/torch_train.py --summary --models all` (torch 1.13,
 * the same definitions written in PyTorch). Also the lecture's DenseBlock / transition-layer shape
 * checks and the registry's errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as cn from '../src/index.js';
import { models, modelNames, createModel, defaultInputShape, DenseBlock, transitionBlock, DenseNetBC, DENSENET_BC_ARCHS } from '../src/models/index.js';
import type { Classifier } from '../src/train/index.js';

const native = cn.nativeAvailable();
if (native) cn.setBackend('native');

// Generated from bench/torch_train.py --summary: [name, type, outputShape, params] per top-level layer.
const EXPECTED: Record<string, { params: number; layers: [string, string, number[], number][] }> = {
  'lenet': {
    params: 61706,
    layers: [
      ['0', 'Conv2d', [1, 6, 28, 28], 156],
      ['1', 'Sigmoid', [1, 6, 28, 28], 0],
      ['2', 'AvgPool2d', [1, 6, 14, 14], 0],
      ['3', 'Conv2d', [1, 16, 10, 10], 2416],
      ['4', 'Sigmoid', [1, 16, 10, 10], 0],
      ['5', 'AvgPool2d', [1, 16, 5, 5], 0],
      ['6', 'Flatten', [1, 400], 0],
      ['7', 'Linear', [1, 120], 48120],
      ['8', 'Sigmoid', [1, 120], 0],
      ['9', 'Linear', [1, 84], 10164],
      ['10', 'Sigmoid', [1, 84], 0],
      ['11', 'Linear', [1, 10], 850],
    ],
  },
  'bnlenet-scratch': {
    params: 44878,
    layers: [
      ['0', 'Conv2d', [1, 6, 24, 24], 156],
      ['1', 'BatchNorm', [1, 6, 24, 24], 12],
      ['2', 'Sigmoid', [1, 6, 24, 24], 0],
      ['3', 'AvgPool2d', [1, 6, 12, 12], 0],
      ['4', 'Conv2d', [1, 16, 8, 8], 2416],
      ['5', 'BatchNorm', [1, 16, 8, 8], 32],
      ['6', 'Sigmoid', [1, 16, 8, 8], 0],
      ['7', 'AvgPool2d', [1, 16, 4, 4], 0],
      ['8', 'Flatten', [1, 256], 0],
      ['9', 'Linear', [1, 120], 30840],
      ['10', 'BatchNorm', [1, 120], 240],
      ['11', 'Sigmoid', [1, 120], 0],
      ['12', 'Linear', [1, 84], 10164],
      ['13', 'BatchNorm', [1, 84], 168],
      ['14', 'Sigmoid', [1, 84], 0],
      ['15', 'Linear', [1, 10], 850],
    ],
  },
  'bnlenet': {
    params: 44878,
    layers: [
      ['0', 'Conv2d', [1, 6, 24, 24], 156],
      ['1', 'BatchNorm2d', [1, 6, 24, 24], 12],
      ['2', 'Sigmoid', [1, 6, 24, 24], 0],
      ['3', 'AvgPool2d', [1, 6, 12, 12], 0],
      ['4', 'Conv2d', [1, 16, 8, 8], 2416],
      ['5', 'BatchNorm2d', [1, 16, 8, 8], 32],
      ['6', 'Sigmoid', [1, 16, 8, 8], 0],
      ['7', 'AvgPool2d', [1, 16, 4, 4], 0],
      ['8', 'Flatten', [1, 256], 0],
      ['9', 'Linear', [1, 120], 30840],
      ['10', 'BatchNorm1d', [1, 120], 240],
      ['11', 'Sigmoid', [1, 120], 0],
      ['12', 'Linear', [1, 84], 10164],
      ['13', 'BatchNorm1d', [1, 84], 168],
      ['14', 'Sigmoid', [1, 84], 0],
      ['15', 'Linear', [1, 10], 850],
    ],
  },
  'alexnet': {
    params: 46764746,
    layers: [
      ['0', 'Conv2d', [1, 96, 54, 54], 11712],
      ['1', 'ReLU', [1, 96, 54, 54], 0],
      ['2', 'MaxPool2d', [1, 96, 26, 26], 0],
      ['3', 'Conv2d', [1, 256, 26, 26], 614656],
      ['4', 'ReLU', [1, 256, 26, 26], 0],
      ['5', 'MaxPool2d', [1, 256, 12, 12], 0],
      ['6', 'Conv2d', [1, 384, 12, 12], 885120],
      ['7', 'ReLU', [1, 384, 12, 12], 0],
      ['8', 'Conv2d', [1, 384, 12, 12], 1327488],
      ['9', 'ReLU', [1, 384, 12, 12], 0],
      ['10', 'Conv2d', [1, 256, 12, 12], 884992],
      ['11', 'ReLU', [1, 256, 12, 12], 0],
      ['12', 'MaxPool2d', [1, 256, 5, 5], 0],
      ['13', 'Flatten', [1, 6400], 0],
      ['14', 'Linear', [1, 4096], 26218496],
      ['15', 'ReLU', [1, 4096], 0],
      ['16', 'Dropout', [1, 4096], 0],
      ['17', 'Linear', [1, 4096], 16781312],
      ['18', 'ReLU', [1, 4096], 0],
      ['19', 'Dropout', [1, 4096], 0],
      ['20', 'Linear', [1, 10], 40970],
    ],
  },
  'vgg11': {
    params: 128806154,
    layers: [
      ['0', 'Sequential', [1, 64, 112, 112], 640],
      ['1', 'Sequential', [1, 128, 56, 56], 73856],
      ['2', 'Sequential', [1, 256, 28, 28], 885248],
      ['3', 'Sequential', [1, 512, 14, 14], 3539968],
      ['4', 'Sequential', [1, 512, 7, 7], 4719616],
      ['5', 'Flatten', [1, 25088], 0],
      ['6', 'Linear', [1, 4096], 102764544],
      ['7', 'ReLU', [1, 4096], 0],
      ['8', 'Dropout', [1, 4096], 0],
      ['9', 'Linear', [1, 4096], 16781312],
      ['10', 'ReLU', [1, 4096], 0],
      ['11', 'Dropout', [1, 4096], 0],
      ['12', 'Linear', [1, 10], 40970],
    ],
  },
  'vgg16': {
    params: 134300362,
    layers: [
      ['0', 'Sequential', [1, 64, 112, 112], 37568],
      ['1', 'Sequential', [1, 128, 56, 56], 221440],
      ['2', 'Sequential', [1, 256, 28, 28], 1475328],
      ['3', 'Sequential', [1, 512, 14, 14], 5899776],
      ['4', 'Sequential', [1, 512, 7, 7], 7079424],
      ['5', 'Flatten', [1, 25088], 0],
      ['6', 'Linear', [1, 4096], 102764544],
      ['7', 'ReLU', [1, 4096], 0],
      ['8', 'Dropout', [1, 4096], 0],
      ['9', 'Linear', [1, 4096], 16781312],
      ['10', 'ReLU', [1, 4096], 0],
      ['11', 'Dropout', [1, 4096], 0],
      ['12', 'Linear', [1, 10], 40970],
    ],
  },
  'vgg19': {
    params: 139610058,
    layers: [
      ['0', 'Sequential', [1, 64, 112, 112], 37568],
      ['1', 'Sequential', [1, 128, 56, 56], 221440],
      ['2', 'Sequential', [1, 256, 28, 28], 2065408],
      ['3', 'Sequential', [1, 512, 14, 14], 8259584],
      ['4', 'Sequential', [1, 512, 7, 7], 9439232],
      ['5', 'Flatten', [1, 25088], 0],
      ['6', 'Linear', [1, 4096], 102764544],
      ['7', 'ReLU', [1, 4096], 0],
      ['8', 'Dropout', [1, 4096], 0],
      ['9', 'Linear', [1, 4096], 16781312],
      ['10', 'ReLU', [1, 4096], 0],
      ['11', 'Dropout', [1, 4096], 0],
      ['12', 'Linear', [1, 10], 40970],
    ],
  },
  'vgg11-slim': {
    params: 43093322,
    layers: [
      ['0', 'Sequential', [1, 16, 112, 112], 160],
      ['1', 'Sequential', [1, 32, 56, 56], 4640],
      ['2', 'Sequential', [1, 64, 28, 28], 55424],
      ['3', 'Sequential', [1, 128, 14, 14], 221440],
      ['4', 'Sequential', [1, 128, 7, 7], 295168],
      ['5', 'Flatten', [1, 6272], 0],
      ['6', 'Linear', [1, 4096], 25694208],
      ['7', 'ReLU', [1, 4096], 0],
      ['8', 'Dropout', [1, 4096], 0],
      ['9', 'Linear', [1, 4096], 16781312],
      ['10', 'ReLU', [1, 4096], 0],
      ['11', 'Dropout', [1, 4096], 0],
      ['12', 'Linear', [1, 10], 40970],
    ],
  },
  'nin': {
    params: 1992166,
    layers: [
      ['0', 'Sequential', [1, 96, 54, 54], 30336],
      ['1', 'MaxPool2d', [1, 96, 26, 26], 0],
      ['2', 'Sequential', [1, 256, 26, 26], 746240],
      ['3', 'MaxPool2d', [1, 256, 12, 12], 0],
      ['4', 'Sequential', [1, 384, 12, 12], 1180800],
      ['5', 'MaxPool2d', [1, 384, 5, 5], 0],
      ['6', 'Dropout', [1, 384, 5, 5], 0],
      ['7', 'Sequential', [1, 10, 5, 5], 34790],
      ['8', 'AdaptiveAvgPool2d', [1, 10, 1, 1], 0],
      ['9', 'Flatten', [1, 10], 0],
    ],
  },
  'densenet': {
    // PyTorch 1.13 on bench/torch_train.py's densenet() (the seed's definition), input [1, 1, 96, 96].
    params: 758226,
    layers: [
      ['0', 'Sequential', [1, 64, 24, 24], 3328],
      ['dense_blk1', 'DenseBlock', [1, 192, 24, 24], 130048],
      ['tran_blk1', 'Sequential', [1, 96, 12, 12], 18912],
      ['dense_blk2', 'DenseBlock', [1, 224, 12, 12], 167168],
      ['tran_blk2', 'Sequential', [1, 112, 6, 6], 25648],
      ['dense_blk3', 'DenseBlock', [1, 240, 6, 6], 185728],
      ['tran_blk3', 'Sequential', [1, 120, 3, 3], 29400],
      ['dense_blk4', 'DenseBlock', [1, 248, 3, 3], 195008],
      ['last', 'Sequential', [1, 10], 2986],
    ],
  },
  'densenet121': {
    params: 6957834,
    layers: [
      ['0', 'Sequential', [1, 64, 24, 24], 3264],
      ['dense_blk1', 'BottleneckDenseBlock', [1, 256, 24, 24], 335040],
      ['tran_blk1', 'Sequential', [1, 128, 12, 12], 33280],
      ['dense_blk2', 'BottleneckDenseBlock', [1, 512, 12, 12], 919680],
      ['tran_blk2', 'Sequential', [1, 256, 6, 6], 132096],
      ['dense_blk3', 'BottleneckDenseBlock', [1, 1024, 6, 6], 2837760],
      ['tran_blk3', 'Sequential', [1, 512, 3, 3], 526336],
      ['dense_blk4', 'BottleneckDenseBlock', [1, 1024, 3, 3], 2158080],
      ['last', 'Sequential', [1, 10], 12298],
    ],
  },
  'densenet169': {
    params: 12494858,
    layers: [
      ['0', 'Sequential', [1, 64, 24, 24], 3264],
      ['dense_blk1', 'BottleneckDenseBlock', [1, 256, 24, 24], 335040],
      ['tran_blk1', 'Sequential', [1, 128, 12, 12], 33280],
      ['dense_blk2', 'BottleneckDenseBlock', [1, 512, 12, 12], 919680],
      ['tran_blk2', 'Sequential', [1, 256, 6, 6], 132096],
      ['dense_blk3', 'BottleneckDenseBlock', [1, 1280, 6, 6], 4316160],
      ['tran_blk3', 'Sequential', [1, 640, 3, 3], 821760],
      ['dense_blk4', 'BottleneckDenseBlock', [1, 1664, 3, 3], 5913600],
      ['last', 'Sequential', [1, 10], 19978],
    ],
  },
  'densenet201': {
    params: 18105866,
    layers: [
      ['0', 'Sequential', [1, 64, 24, 24], 3264],
      ['dense_blk1', 'BottleneckDenseBlock', [1, 256, 24, 24], 335040],
      ['tran_blk1', 'Sequential', [1, 128, 12, 12], 33280],
      ['dense_blk2', 'BottleneckDenseBlock', [1, 512, 12, 12], 919680],
      ['tran_blk2', 'Sequential', [1, 256, 6, 6], 132096],
      ['dense_blk3', 'BottleneckDenseBlock', [1, 1792, 6, 6], 8071680],
      ['tran_blk3', 'Sequential', [1, 896, 3, 3], 1609216],
      ['dense_blk4', 'BottleneckDenseBlock', [1, 1920, 3, 3], 6978560],
      ['last', 'Sequential', [1, 10], 23050],
    ],
  },
  'resnet18': {
    params: 11178378,
    layers: [
      ['0', 'Sequential', [1, 64, 24, 24], 3328],
      ['b2', 'Sequential', [1, 64, 24, 24], 148224],
      ['b3', 'Sequential', [1, 128, 12, 12], 525952],
      ['b4', 'Sequential', [1, 256, 6, 6], 2100480],
      ['b5', 'Sequential', [1, 512, 3, 3], 8395264],
      ['last', 'Sequential', [1, 10], 5130],
    ],
  },
};

// [sha256/16 of "name:shape" parameter lines, #parameters, sha256/16 of state-dict keys, #keys] (PyTorch names, prefixed by "net.").
const STATE_KEYS: Record<string, [string, number, string, number]> = {
  'lenet': ["fd88fde4e63a7aa3", 10, "5919a0dafcd689d3", 10],
  'bnlenet-scratch': ["af390d21b24d8493", 18, "a379a0c23d633f16", 18],
  'bnlenet': ["344c8187ab09b68e", 18, "f85e5fd0f431e1fa", 30],
  'alexnet': ["bd8c2c2a49070f46", 16, "a490ff9a4f293492", 16],
  'vgg11': ["3413bc7e41d579cb", 22, "2c75af88812a6912", 22],
  'vgg16': ["0dbfad68e3c8b35d", 32, "fb002cf3494e4bd4", 32],
  'vgg19': ["80d1d3d5cabb6aac", 38, "bef049bba19e0b5e", 38],
  'vgg11-slim': ["1f473fc49c8d0f93", 22, "2c75af88812a6912", 22],
  'nin': ["65a9c02fd25187ca", 24, "9ca7cb024cdaa6da", 24],
  'densenet': ["cce6aad88f8441e0", 84, "fef9b3dcbb5197ca", 147],
  'densenet121': ["7b590e6be0d6d9fa", 364, "5db60cad6a7e5331", 727],
  'densenet169': ["c3e2c69ada75ebfa", 508, "479d004d9073f92c", 1015],
  'densenet201': ["e77384b3a12569a6", 604, "efb4e5164ffe8983", 1207],
  'resnet18': ["677a6538ce9750b5", 76, "6b8abd92e7a247e6", 127],
};

/** Large 224x224 models take minutes on the reference backend: only checked on the native one. */
const HEAVY = new Set(['alexnet', 'vgg11', 'vgg16', 'vgg19', 'vgg11-slim', 'nin']);

function sha16(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 16);
}

function release(model: Classifier): void {
  for (const t of Object.values(model.stateDict())) t.dispose();
}

test('the registry lists every zoo model of the issue', () => {
  assert.deepEqual([...modelNames].sort(), Object.keys(EXPECTED).sort());
  for (const [name, e] of Object.entries(models)) {
    assert.equal(e.inChannels, 1, name);
    assert.equal(e.numClasses, 10, name);
    assert.ok(e.lr > 0 && e.description.length > 0, name);
  }
  assert.deepEqual(defaultInputShape('alexnet'), [1, 1, 224, 224]);
  assert.deepEqual(defaultInputShape('bnlenet', 128), [128, 1, 28, 28]);
  assert.deepEqual(defaultInputShape('densenet'), [1, 1, 96, 96]);
  assert.equal(models.alexnet!.lr, 0.01);
  assert.equal(models.nin!.lr, 0.05);
  assert.equal(models.bnlenet!.lr, 0.1);
});

test('an unknown model name is an error listing the valid names', () => {
  assert.throws(() => createModel('resnet50'), (e: Error) => {
    assert.match(e.message, /unknown model 'resnet50'/);
    for (const n of modelNames) assert.ok(e.message.includes(n), `lists ${n}`);
    return true;
  });
});

for (const name of Object.keys(EXPECTED)) {
  test(`${name}: layer output shapes, parameter counts and names equal PyTorch's`, (t) => {
    if (!native && HEAVY.has(name)) {
      t.skip('native backend unavailable (too slow on the reference backend)');
      return;
    }
    const exp = EXPECTED[name]!;
    const model = createModel(name);
    assert.equal(model.lr, models[name]!.lr);
    const memBefore = cn.getBackend().memoryInUse();
    const rows = model.layerSummary(defaultInputShape(name), { print: false });
    assert.deepEqual(
      rows.map((r) => [r.name, r.type, r.outputShape, r.params]),
      exp.layers,
    );
    assert.equal(model.numParameters(), exp.params);
    // The summary's activations are freed; only parameters and buffers were added.
    const state = Object.values(model.stateDict()).reduce((s, t) => s + t.size * 4, 0);
    assert.ok(cn.getBackend().memoryInUse() - memBefore <= state + 4096, 'summary leaks no activations');
    const [pHash, pCount, kHash, kCount] = STATE_KEYS[name]!;
    const params = model.namedParameters();
    assert.equal(params.length, pCount);
    assert.equal(sha16(params.map(([n, p]) => `${n}:[${p.shape.join(', ')}]`).join('\n')), pHash, 'parameter names and shapes');
    // The scratch BatchNorm's moving statistics are buffers here (saved with the model) but plain
    // attributes in the lecture's PyTorch class: compare the rest with PyTorch's keys.
    const all = Object.keys(model.stateDict());
    const moving = all.filter((k) => /\.moving_(mean|var)$/.test(k));
    const keys = all.filter((k) => !moving.includes(k));
    assert.deepEqual(moving, name === 'bnlenet-scratch' ? ['1', '5', '10', '13'].flatMap((i) => [`net.${i}.moving_mean`, `net.${i}.moving_var`]) : []);
    assert.equal(keys.length, kCount);
    assert.equal(sha16(keys.join('\n')), kHash, 'state-dict keys');
    // FLOPs are reported for conv/linear layers.
    const convRow = rows.find((r) => r.type === 'Conv2d' || r.params > 0)!;
    assert.ok(convRow.flops > 0, 'flops of a layer with parameters');
    release(model);
  });
}

test('DenseNet-121 with 3 channels and 1000 classes has the reference parameter count', () => {
  // (169: 14,149,480 and 201: 20,013,928 likewise; their 1-channel/10-class counts are checked above.)
  const expected = { densenet121: 7_978_856 };
  for (const [name, count] of Object.entries(expected)) {
    const model = new DenseNetBC({ arch: DENSENET_BC_ARCHS[name as keyof typeof DENSENET_BC_ARCHS], numClasses: 1000, inChannels: 3 });
    model.materialize([1, 3, 32, 32]);
    assert.equal(model.numParameters(), count, name);
    release(model);
  }
});

test("the lecture's DenseBlock(2, 10) on randn(4, 3, 8, 8) gives [4, 23, 8, 8]; transitionBlock(10) gives [4, 10, 4, 4]", () => {
  cn.manualSeed(0);
  const blk = new DenseBlock(2, 10);
  const X = cn.randn([4, 3, 8, 8]);
  const Y = blk.call(X);
  assert.deepEqual(Y.shape, [4, 23, 8, 8]);
  const tr = transitionBlock(10);
  assert.deepEqual(tr.call(Y).shape, [4, 10, 4, 4]);
});

test('models take other input channels and class counts', () => {
  const model = createModel('bnlenet', { inChannels: 3, numClasses: 5 });
  const rows = model.layerSummary([2, 3, 28, 28], { print: false });
  assert.deepEqual(rows.at(-1)!.outputShape, [2, 5]);
  assert.equal(rows[0]!.params, 6 * 3 * 25 + 6);
  const dn = createModel('densenet', { numClasses: 3 });
  assert.deepEqual(dn.layerSummary([1, 1, 64, 64], { print: false }).at(-1)!.outputShape, [1, 3]);
});
