/**
 * The runnable lecture (examples/lecture/*) defines its models cell by cell, as the notebook does;
 * they must be the zoo's models: same layer summaries, parameter names and shapes. Its scratch
 * batch norm must compute what `nn.batchNorm` computes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as cn from '../src/index.js';
import * as nn from '../src/nn/index.js';
import { createModel, defaultInputShape } from '../src/models/index.js';
import type { Classifier } from '../src/train/index.js';
import { AlexNet } from '../examples/lecture/alexnet.js';
import { VGG } from '../examples/lecture/vgg.js';
import { NiN } from '../examples/lecture/nin.js';
import { BNLeNetScratch, BNLeNet, batchNorm } from '../examples/lecture/batch-norm.js';
import { DenseNet, DenseBlock, transitionBlock } from '../examples/lecture/densenet.js';

const native = cn.nativeAvailable();
if (native) cn.setBackend('native');

function signature(m: Classifier, inputShape: number[]): unknown {
  const rows = m.layerSummary(inputShape, { print: false }).map((r) => [r.name, r.type, r.outputShape, r.params, r.flops]);
  const params = m.namedParameters().map(([n, p]) => `${n}:${p.shape.join('x')}`);
  // The zoo's scratch BatchNorm also saves its moving statistics (buffers moving_mean / moving_var);
  // the lecture's keeps them as plain attributes, as the notebook's Python class does.
  const keys = Object.keys(m.stateDict()).filter((k) => !/\.moving_(mean|var)$/.test(k));
  cn.dispose(Object.values(m.stateDict()));
  return { rows, params, keys };
}

const pairs: [string, () => Classifier, boolean][] = [
  ['alexnet', () => new AlexNet({ lr: 0.01 }), true],
  ['vgg11-slim', () => new VGG({ arch: [[1, 16], [1, 32], [2, 64], [2, 128], [2, 128]], lr: 0.01 }), true],
  ['nin', () => new NiN({ lr: 0.05 }), true],
  ['bnlenet-scratch', () => new BNLeNetScratch({ lr: 0.1 }), false],
  ['bnlenet', () => new BNLeNet({ lr: 0.1 }), false],
  ['densenet', () => new DenseNet({ lr: 0.01 }), false],
];

for (const [name, make, heavy] of pairs) {
  test(`the lecture's ${name} is the zoo's ${name}`, (t) => {
    if (heavy && !native) {
      t.skip('native backend unavailable');
      return;
    }
    const shape = defaultInputShape(name);
    const lecture = make();
    assert.equal(lecture.lr, createModel(name).lr);
    assert.deepEqual(signature(lecture, shape), signature(createModel(name), shape));
  });
}

test("the lecture's DenseBlock / transition layer shapes", () => {
  const Y = new DenseBlock(2, 10).call(cn.randn([4, 3, 8, 8]));
  assert.deepEqual(Y.shape, [4, 23, 8, 8]);
  assert.deepEqual(transitionBlock(10).call(Y).shape, [4, 10, 4, 4]);
});

test("the lecture's batch_norm equals nn.batchNorm in training and prediction mode", () => {
  cn.manualSeed(3);
  for (const shape of [[8, 5], [4, 3, 5, 5]]) {
    const c = shape[1]!;
    const ps = shape.length === 2 ? [1, c] : [1, c, 1, 1];
    const X = cn.randn(shape);
    const gamma = cn.rand(ps);
    const beta = cn.randn(ps);
    const mm = cn.randn(ps);
    const mv = cn.rand(ps).add(0.5);
    const close = (a: cn.Tensor, b: cn.Tensor): void => {
      const x = a.toArray();
      const y = b.toArray();
      assert.equal(x.length, y.length);
      for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i]! - y[i]!) < 1e-5, `${x[i]} vs ${y[i]}`);
    };
    const ours = batchNorm(X, gamma, beta, mm, mv, 1e-5, 0.1);
    const ref = nn.batchNorm(X, gamma, beta, mm, mv, 1e-5, 0.1);
    ours.forEach((t, i) => close(t, ref[i]!));
    const oursEval = cn.noGrad(() => batchNorm(X, gamma, beta, mm, mv, 1e-5, 0.1));
    const refEval = cn.noGrad(() => nn.batchNorm(X, gamma, beta, mm, mv, 1e-5, 0.1));
    oursEval.forEach((t, i) => close(t, refEval[i]!));
  }
});
