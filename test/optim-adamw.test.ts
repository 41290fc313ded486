/**
 * AdamW against PyTorch 1.13 (test/fixtures/adamw.json, made by test/py/adamw.py with
 * torch.optim.AdamW): 5 steps on a quadratic for several configurations (defaults, weight decay,
 * betas/eps, maximize), on both backends; its state round-trips through `stateDict`, and it differs
 * from Adam with the same weightDecay (decoupled vs L2) — also checked by hand on the first step.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as cn from '../src/index.js';
import type { BackendName, Tensor } from '../src/index.js';
import * as nn from '../src/nn/index.js';
import { Adam, AdamW } from '../src/optim/index.js';
import { assertClose } from './helpers/assert-close.js';
import { readFixture } from './helpers/fixtures.js';

interface Case {
  name: string;
  options: { lr?: number; weightDecay?: number; betas?: [number, number]; eps?: number; maximize?: boolean };
  trajectory: number[][];
}
const fixture = readFixture<{ torch: string; cases: Case[] }>('adamw.json');

function step(p: Tensor, opt: AdamW | Adam): void {
  cn.tidy(() => {
    opt.zeroGrad();
    const c = cn.tensor([0.5, 1.0, 2.0, 4.0]);
    const d = cn.tensor([0.1, -0.3, 0.2, 0.0]);
    c.mul(p).mul(p).sum().add(d.mul(p).sum()).backward();
    opt.step();
  });
}

function eachBackend(name: string, fn: () => void): void {
  for (const b of ['reference', 'native'] as BackendName[]) {
    test(`${b}: ${name}`, (t) => {
      if (b === 'native' && !cn.nativeAvailable()) {
        t.skip('native addon not built');
        return;
      }
      cn.withBackend(b, fn);
    });
  }
}

for (const c of fixture.cases) {
  eachBackend(`AdamW ${c.name}: 5 steps match PyTorch`, () => {
    const p = new nn.Parameter(cn.tensor([1.0, -2.0, 3.0, 0.5]));
    const opt = new AdamW({ params: [p], ...c.options });
    for (const expected of c.trajectory) {
      step(p, opt);
      assertClose(p.toArray(), expected, { atol: 2e-6, rtol: 2e-6 }, c.name);
    }
    p.dispose();
    opt.dispose();
  });
}

test('AdamW: defaults as torch.optim.AdamW; the first step by hand; not Adam', () => {
  const p = new nn.Parameter(cn.tensor([2.0]));
  const opt = new AdamW({ params: [p], lr: 0.1 });
  assert.equal(opt.paramGroups[0]!.weightDecay, 0.01);
  assert.deepEqual(opt.paramGroups[0]!.betas, [0.9, 0.999]);
  // loss = p^2, g = 4. Decay: p = 2 * (1 - 0.1 * 0.01) = 1.998; m = 0.4, v = 0.016 * ... ; the
  // bias-corrected ratio m̂ / (sqrt(v̂) + eps) = 4 / (4 + 1e-8), so p = 1.998 - 0.1 * (1 - 2.5e-9).
  cn.tidy(() => {
    p.mul(p).sum().backward();
    opt.step();
  });
  assert.ok(Math.abs(p.item() - (1.998 - 0.1)) < 1e-6, `${p.item()}`);
  // Adam with the same weightDecay adds 0.01 * p to the gradient instead: after one step the sign
  // normalisation hides it, but the two differ from the second step on.
  const a = new nn.Parameter(cn.tensor([1.0, -2.0, 3.0, 0.5]));
  const b = new nn.Parameter(cn.tensor([1.0, -2.0, 3.0, 0.5]));
  const adam = new Adam({ params: [a], lr: 0.05, weightDecay: 0.1 });
  const adamw = new AdamW({ params: [b], lr: 0.05, weightDecay: 0.1 });
  for (let i = 0; i < 3; i++) {
    step(a, adam);
    step(b, adamw);
  }
  const diff = Math.max(...Array.from(a.toArray(), (v, i) => Math.abs(v - b.toArray()[i]!)));
  assert.ok(diff > 1e-4, `Adam and AdamW should differ, max diff ${diff}`);
  // The state round-trips: a restored AdamW continues like the original.
  const sd = adamw.stateDict();
  const b2 = new nn.Parameter(cn.tensor(Array.from(b.toArray())));
  const restored = new AdamW({ params: [b2], lr: 0.05, weightDecay: 0.1 });
  restored.loadStateDict(sd);
  step(b, adamw);
  step(b2, restored);
  assert.deepEqual(Array.from(b2.toArray()), Array.from(b.toArray()));
  assert.throws(() => new AdamW({ params: [b2], weightDecay: -1 }), /AdamW: invalid weightDecay -1/);
});
