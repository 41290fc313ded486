/**
 * Initial weights as in the lecture run in PyTorch 1.13 (test/fixtures/default-init.json, made by
 * test/py/default_init.py): the lecture's AlexNet and DenseNet apply `init_cnn` in their
 * constructors to still-lazy layers, where PyTorch does nothing, so they start from PyTorch's
 * default init (kaiming_uniform(a=√5) weights, U(±1/√fanIn) biases). The zoo's `alexnet` and
 * `densenet`, and the runnable lecture's AlexNet, must have the same weight distributions layer by
 * layer (std, max |w|, kurtosis: uniform 1.8), and `init: 'xavier'` the distributions of d2l's
 * `apply_init(init_cnn)`. Also: `nn.initCnn` skips lazy layers, `nn.xavierInitCnn` reaches them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as cn from '../src/index.js';
import * as nn from '../src/nn/index.js';
import { createModel } from '../src/models/index.js';
import type { Classifier } from '../src/train/index.js';
import { AlexNet as LectureAlexNet } from '../examples/lecture/alexnet.js';
import { DenseNet as LectureDenseNet } from '../examples/lecture/densenet.js';
import { readFixture } from './helpers/fixtures.js';

interface ParamStats {
  numel: number;
  mean: number;
  std: number;
  maxabs: number;
  kurtosis: number;
}
type ModelStats = Record<string, ParamStats>;
const fx = readFixture<{ torch: string; models: Record<string, Record<string, ModelStats>> }>('default-init.json');

if (cn.nativeAvailable()) cn.setBackend('native');

function statsOf(values: ArrayLike<number>): ParamStats {
  const n = values.length;
  let s = 0;
  let maxabs = 0;
  for (let i = 0; i < n; i++) {
    s += values[i]!;
    maxabs = Math.max(maxabs, Math.abs(values[i]!));
  }
  const mean = s / n;
  let m2 = 0;
  let m4 = 0;
  for (let i = 0; i < n; i++) {
    const d = values[i]! - mean;
    m2 += d * d;
    m4 += d * d * d * d;
  }
  const std = Math.sqrt(m2 / n);
  return { numel: n, mean, std, maxabs, kurtosis: std > 0 ? m4 / n / std ** 4 : 0 };
}

/** Compares every weight and bias of `model` (state-dict names without the leading `net.`) with PyTorch's. */
function assertLikeTorch(model: Classifier, expected: ModelStats, what: string): void {
  const sd = model.stateDict();
  const ours = Object.fromEntries(Object.entries(sd).filter(([k]) => /\.(weight|bias)$/.test(k)).map(([k, t]) => [k.replace(/^net\./, ''), t]));
  assert.deepEqual(Object.keys(ours).sort(), Object.keys(expected).sort(), `${what}: the same parameters`);
  for (const [name, e] of Object.entries(expected)) {
    const o = statsOf(ours[name]!.toArray());
    assert.equal(o.numel, e.numel, `${what} ${name}: numel`);
    if (e.std === 0) {
      // BatchNorm's weight (ones) and bias (zeros).
      assert.equal(o.std, 0, `${what} ${name}: constant`);
      assert.equal(o.mean, e.mean, `${what} ${name}: value`);
      continue;
    }
    // Standard error of a uniform sample's std: std * sqrt(0.2 / n); both sides are samples.
    const tol = 6 * Math.sqrt(0.4 / e.numel) + 0.002;
    assert.ok(Math.abs(o.std / e.std - 1) <= tol, `${what} ${name}: std ${o.std} vs PyTorch ${e.std} (tolerance ${tol})`);
    assert.ok(Math.abs(o.mean) <= 6 * e.std / Math.sqrt(e.numel), `${what} ${name}: mean ${o.mean}`);
    if (e.numel >= 1000) {
      assert.ok(Math.abs(o.maxabs / e.maxabs - 1) <= 0.01, `${what} ${name}: max |w| ${o.maxabs} vs PyTorch ${e.maxabs}`);
      assert.ok(Math.abs(o.kurtosis - e.kurtosis) <= 0.1, `${what} ${name}: kurtosis ${o.kurtosis} vs PyTorch ${e.kurtosis}`);
    }
  }
}

function free(model: Classifier): void {
  cn.dispose(Object.values(model.stateDict()));
}

test("the zoo's and the lecture's AlexNet start from PyTorch's default init, as the notebook's", { timeout: 120_000 }, () => {
  assert.match(fx.torch, /^1\.13/);
  cn.manualSeed(0);
  for (const [what, model] of [
    ['zoo alexnet', createModel('alexnet')],
    ['lecture AlexNet', new LectureAlexNet({ lr: 0.01 })],
  ] as const) {
    model.materialize([1, 1, 224, 224]);
    assertLikeTorch(model, fx.models.alexnet!.default!, what);
    free(model);
  }
});

test("alexnet with init: 'xavier' has the weights of d2l's apply_init(init_cnn)", { timeout: 120_000 }, () => {
  cn.manualSeed(1);
  const model = createModel('alexnet', { init: 'xavier' });
  model.materialize([1, 1, 224, 224]);
  assertLikeTorch(model, fx.models.alexnet!.xavier!, 'alexnet xavier');
  free(model);
});

test("the zoo's and the lecture's DenseNet start from PyTorch's default init", { timeout: 120_000 }, () => {
  cn.manualSeed(2);
  for (const [what, model] of [
    ['zoo densenet', createModel('densenet')],
    ['lecture DenseNet', new LectureDenseNet({ lr: 0.01 })],
  ] as const) {
    model.materialize([1, 1, 96, 96]);
    assertLikeTorch(model, fx.models.densenet!.default!, what);
    free(model);
  }
});

test('initCnn skips still-lazy layers (as d2l in PyTorch); xavierInitCnn reaches them', () => {
  cn.manualSeed(4);
  const make = (): nn.Sequential => new nn.Sequential(new nn.LazyConv2d(64, { kernelSize: 3 }), new nn.Flatten(), new nn.LazyLinear(500));
  const x = cn.zeros([1, 32, 5, 5]);
  const lazy = make();
  lazy.apply(nn.initCnn);
  assert.equal((lazy.at(0) as nn.Conv2d).weight.pendingInits, 0, 'nothing queued');
  const xav = make();
  xav.apply(nn.xavierInitCnn);
  assert.equal((xav.at(0) as nn.Conv2d).weight.pendingInits, 1);
  cn.noGrad(() => [lazy.call(x), xav.call(x)]);
  // conv: fanIn 288, fanOut 576: default bound 1/sqrt(288) = 0.059, Xavier sqrt(6/864) = 0.083.
  const max = (t: cn.Tensor): number => Math.max(...Array.from(t.toArray(), Math.abs));
  assert.ok(max((lazy.at(0) as nn.Conv2d).weight) <= 1 / Math.sqrt(288));
  assert.ok(max((xav.at(0) as nn.Conv2d).weight) > 1.2 / Math.sqrt(288));
  // Once materialized, initCnn applies Xavier (what apply_init does after its forward).
  lazy.apply(nn.initCnn);
  assert.ok(max((lazy.at(0) as nn.Conv2d).weight) > 1.2 / Math.sqrt(288));
  assert.throws(() => createModel('alexnet', { init: 'he' as never }), /AlexNet: init must be 'default' or 'xavier', got 'he'/);
});
