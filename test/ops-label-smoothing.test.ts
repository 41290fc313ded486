/**
 * crossEntropy with label smoothing against PyTorch 1.13's F.cross_entropy(..., label_smoothing)
 * (test/fixtures/label-smoothing.json, made by test/py/label_smoothing.py): loss values and input
 * gradients for ε in {0, 0.1, 0.25, 0.6, 1} and every reduction, on both backends; ε = 0 is the
 * plain loss; out-of-range ε is a clear error. One value is also worked by hand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as cn from '../src/index.js';
import type { BackendName, Reduction } from '../src/index.js';
import { assertClose } from './helpers/assert-close.js';
import { readFixture } from './helpers/fixtures.js';

interface Case {
  labelSmoothing: number;
  reduction: Reduction;
  loss: number | number[];
  grad: number[][];
}
const fx = readFixture<{ logits: number[][]; target: number[]; weights: number[]; cases: Case[] }>('label-smoothing.json');
const TOL = { atol: 2e-6, rtol: 2e-6 };

for (const b of ['reference', 'native'] as BackendName[]) {
  test(`${b}: crossEntropy with labelSmoothing matches PyTorch (values and gradients)`, (t) => {
    if (b === 'native' && !cn.nativeAvailable()) {
      t.skip('native addon not built');
      return;
    }
    cn.withBackend(b, () => {
      assert.equal(fx.cases.length, 15);
      for (const c of fx.cases) {
        const what = `eps ${c.labelSmoothing}, ${c.reduction}`;
        cn.tidy(() => {
          const x = cn.tensor(fx.logits.flat(), { shape: [5, 4], requiresGrad: true });
          const y = cn.tensor(fx.target, { dtype: 'int32' });
          const loss = cn.crossEntropy(x, y, { reduction: c.reduction, labelSmoothing: c.labelSmoothing });
          if (c.reduction === 'none') {
            assertClose(loss.toArray(), c.loss as number[], TOL, `${what}: loss`);
            loss.mul(cn.tensor(fx.weights)).sum().backward();
          } else {
            assert.deepEqual(loss.shape, []);
            assertClose([loss.item()], [c.loss as number], TOL, `${what}: loss`);
            loss.backward();
          }
          assertClose(x.grad!.toArray(), c.grad.flat(), TOL, `${what}: grad`);
        });
      }
    });
  });
}

test('labelSmoothing by hand, and its validation', () => {
  // Logits [0, 0] (p = 1/2 each), target 0, eps 0.2: (1 - 0.2) * ln 2 + 0.2 * mean(ln 2, ln 2) = ln 2;
  // logits [ln 3, 0] (p = 3/4, 1/4), target 0: 0.8 * ln(4/3) + 0.2 * (ln(4/3) + ln 4) / 2.
  const x = cn.tensor([0, 0, Math.log(3), 0], { shape: [2, 2] });
  const y = cn.tensor([0, 0], { dtype: 'int32' });
  const l = cn.crossEntropy(x, y, { reduction: 'none', labelSmoothing: 0.2 }).toArray();
  assertClose(l, [Math.LN2, 0.8 * Math.log(4 / 3) + 0.1 * (Math.log(4 / 3) + Math.log(4))], { atol: 1e-6, rtol: 1e-6 }, 'by hand');
  assert.throws(() => cn.crossEntropy(x, y, { labelSmoothing: 1.5 }), /crossEntropy: labelSmoothing must be a number in \[0, 1\], got 1\.5/);
  assert.throws(() => cn.crossEntropy(x, y, { labelSmoothing: -0.1 }), /labelSmoothing must be a number in \[0, 1\]/);
});
