/**
 * Learning-rate schedules against PyTorch 1.13: every case of test/fixtures/lr-schedulers.json
 * (made by test/py/lr_schedulers.py with torch.optim.lr_scheduler) is rebuilt from its spec on an
 * optimizer with two parameter groups (lr 0.1 and 0.03) and stepped as PyTorch was; each group's lr
 * (and the momentum / beta1 that OneCycleLR cycles) must equal PyTorch's after construction and
 * after every step. Checkpointing half-way (optimizer + scheduler state through JSON) into fresh
 * objects must continue on the same trajectory. Bad arguments give one-line errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as cn from '../src/index.js';
import * as nn from '../src/nn/index.js';
import {
  Adam,
  CosineAnnealingLR,
  LinearLR,
  LRScheduler,
  MultiStepLR,
  OneCycleLR,
  SGD,
  SequentialLR,
  StepLR,
  type Optimizer,
} from '../src/optim/index.js';
import { readFixture } from './helpers/fixtures.js';

interface Spec {
  type: string;
  [k: string]: unknown;
}
interface Snapshot {
  lr: number[];
  momentum?: number[];
  beta1?: number[];
}
interface Case {
  name: string;
  optimizer: 'sgd' | 'sgd0' | 'adam';
  spec: Spec;
  steps: number;
  trajectory: Snapshot[];
}

const fixture = readFixture<{ torch: string; cases: Case[] }>('lr-schedulers.json');

function makeOptimizer(kind: Case['optimizer']): Optimizer<{ lr: number }> {
  const groups = [
    { params: [new nn.Parameter(cn.zeros([2]))], lr: 0.1 },
    { params: [new nn.Parameter(cn.zeros([3]))], lr: 0.03 },
  ];
  if (kind === 'sgd') return new SGD({ params: groups, lr: 0.1, momentum: 0.9 });
  if (kind === 'sgd0') return new SGD({ params: groups, lr: 0.1 });
  return new Adam({ params: groups, lr: 0.1 });
}

function build(spec: Spec, opt: Optimizer<{ lr: number }>): LRScheduler {
  const s = spec as unknown as Record<string, never>;
  switch (spec.type) {
    case 'StepLR':
      return new StepLR(opt, { stepSize: s.stepSize, gamma: s.gamma });
    case 'MultiStepLR':
      return new MultiStepLR(opt, { milestones: s.milestones, gamma: s.gamma });
    case 'CosineAnnealingLR':
      return new CosineAnnealingLR(opt, { tMax: s.tMax, etaMin: s.etaMin });
    case 'LinearLR':
      return new LinearLR(opt, { startFactor: s.startFactor, endFactor: s.endFactor, totalIters: s.totalIters });
    case 'OneCycleLR':
      return new OneCycleLR(opt, {
        maxLr: s.maxLr,
        totalSteps: s.totalSteps,
        pctStart: s.pctStart,
        annealStrategy: s.annealStrategy,
        cycleMomentum: s.cycleMomentum,
        divFactor: s.divFactor,
        finalDivFactor: s.finalDivFactor,
        threePhase: s.threePhase,
      });
    case 'SequentialLR':
      return new SequentialLR(opt, { schedulers: (spec.schedulers as Spec[]).map((x) => build(x, opt)), milestones: s.milestones });
    default:
      throw new Error(`unknown scheduler ${spec.type}`);
  }
}

function snapshot(opt: Optimizer<{ lr: number }>): Snapshot {
  const groups = opt.paramGroups as unknown as Record<string, unknown>[];
  const out: Snapshot = { lr: groups.map((g) => g.lr as number) };
  if ('betas' in opt.defaults) out.beta1 = groups.map((g) => (g.betas as number[])[0]!);
  else out.momentum = groups.map((g) => g.momentum as number);
  return out;
}

/** Equal up to the last bits of a double (Math.cos/pow may differ from C's by an ulp). */
function assertSame(actual: Snapshot, expected: Snapshot, where: string): void {
  for (const key of ['lr', 'momentum', 'beta1'] as const) {
    const e = expected[key];
    const a = actual[key];
    assert.equal(a === undefined, e === undefined, `${where}: ${key} presence`);
    if (e === undefined) continue;
    assert.equal(a!.length, e.length);
    e.forEach((v, i) => {
      assert.ok(Math.abs(a![i]! - v) <= 1e-15 + 1e-12 * Math.abs(v), `${where}: ${key}[${i}] ${a![i]} vs PyTorch ${v}`);
    });
  }
}

test('the fixture covers every schedule', () => {
  assert.match(fixture.torch, /^1\.13/);
  const types = new Set<string>();
  const walk = (s: Spec): void => {
    types.add(s.type);
    if (Array.isArray(s.schedulers)) (s.schedulers as Spec[]).forEach(walk);
  };
  fixture.cases.forEach((c) => walk(c.spec));
  assert.deepEqual([...types].sort(), ['CosineAnnealingLR', 'LinearLR', 'MultiStepLR', 'OneCycleLR', 'SequentialLR', 'StepLR']);
});

for (const c of fixture.cases) {
  test(`${c.name}: the trajectory equals PyTorch's`, () => {
    const opt = makeOptimizer(c.optimizer);
    const sched = build(c.spec, opt);
    assert.equal(c.trajectory.length, c.steps + 1);
    assertSame(snapshot(opt), c.trajectory[0]!, 'after construction');
    assert.deepEqual(sched.getLastLr(), c.trajectory[0]!.lr);
    for (let t = 1; t <= c.steps; t++) {
      sched.step();
      assertSame(snapshot(opt), c.trajectory[t]!, `step ${t}`);
      assert.deepEqual(sched.getLastLr(), snapshot(opt).lr);
    }
  });

  test(`${c.name}: a checkpoint half-way continues on PyTorch's trajectory`, () => {
    const half = Math.floor(c.steps / 2);
    const opt = makeOptimizer(c.optimizer);
    const sched = build(c.spec, opt);
    for (let t = 1; t <= half; t++) sched.step();
    // Through JSON, as in a checkpoint file.
    const saved = JSON.parse(JSON.stringify({ groups: opt.stateDict().paramGroups, sched: sched.stateDict() }));
    const opt2 = makeOptimizer(c.optimizer);
    const sched2 = build(c.spec, opt2);
    sched2.step(); // a fresh scheduler in another state: loading must overwrite it
    opt2.loadStateDict({ state: {}, paramGroups: saved.groups });
    sched2.loadStateDict(saved.sched);
    assertSame(snapshot(opt2), c.trajectory[half]!, 'restored');
    for (let t = half + 1; t <= c.steps; t++) {
      sched2.step();
      assertSame(snapshot(opt2), c.trajectory[t]!, `resumed step ${t}`);
    }
  });
}

test('OneCycleLR: one step past totalSteps + 1 is an error, as in PyTorch', () => {
  const opt = makeOptimizer('sgd');
  const sched = new OneCycleLR(opt, { maxLr: 0.1, totalSteps: 3 });
  for (let i = 0; i < 3; i++) sched.step();
  assert.throws(() => sched.step(), /OneCycleLR: tried to step 5 times; the schedule has 3 total steps/);
  assert.equal(new OneCycleLR(makeOptimizer('sgd'), { maxLr: 0.1, epochs: 2, stepsPerEpoch: 5 }).totalSteps, 10);
});

test('schedulers reject bad arguments with one-line errors', () => {
  const opt = makeOptimizer('sgd');
  assert.throws(() => new StepLR(opt, { stepSize: 0 }), /StepLR: stepSize must be a positive integer, got 0/);
  assert.throws(() => new MultiStepLR(opt, { milestones: [2, -1] }), /MultiStepLR: milestones must be integers >= 0, got -1/);
  assert.throws(() => new CosineAnnealingLR(opt, { tMax: 0 }), /CosineAnnealingLR: tMax must be a positive integer/);
  assert.throws(() => new LinearLR(opt, { startFactor: 1.5 }), /LinearLR: startFactor must be in \[0, 1\]/);
  assert.throws(() => new OneCycleLR(opt, { maxLr: 0.1 }), /OneCycleLR: give totalSteps, or epochs and stepsPerEpoch/);
  assert.throws(() => new OneCycleLR(opt, { maxLr: [0.1], totalSteps: 5 }), /expected 2 values for maxLr/);
  const other = makeOptimizer('sgd');
  assert.throws(
    () => new SequentialLR(opt, { schedulers: [new LinearLR(opt), new StepLR(other, { stepSize: 2 })], milestones: [2] }),
    /SequentialLR: schedulers\[1\] belongs to another optimizer/,
  );
  assert.throws(() => new SequentialLR(opt, { schedulers: [new LinearLR(opt)], milestones: [2] }), /expected 0 milestones for 1 schedulers/);
  const step = new StepLR(makeOptimizer('sgd'), { stepSize: 2 });
  assert.throws(() => step.loadStateDict(new CosineAnnealingLR(makeOptimizer('sgd'), { tMax: 3 }).stateDict()), /the state is of a CosineAnnealingLR, not a StepLR/);
  assert.throws(() => step.loadStateDict({ ...step.stateDict(), baseLrs: [1] }), /'baseLrs' must be 2 numbers/);
  assert.throws(() => new StepLR(makeOptimizer('sgd'), { stepSize: 2, lastEpoch: 3 }), /param group 0 has no 'initialLr'/);
});
