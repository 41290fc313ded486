/**
 * The fused optimizer kernels `sgdStep` / `adamStep` (src/backend/kernels.ts):
 * - against PyTorch 1.13's own trajectories (test/py/optim_trajectories.py, run live with
 *   /usr/bin/python3): SGD plain / momentum / dampening / nesterov / weight decay / maximize, Adam
 *   with and without weight decay and maximize, AdamW — 6 steps on three parameters, on the
 *   reference and the native backend (native also with gradients and parameters in oneDNN blocked
 *   layouts), parameters and optimizer state compared after every step;
 * - native against reference without PyTorch (seeded data), including a convolution's real
 *   gradient layout, parameters/state in blocked layouts, empty parameters and mixed first steps;
 * - hand-worked single steps, the buffer-identity and in-place contract, and clear errors.
 *
 * Tolerances are in float32 ulps of the tensor's scale (see assertUlps), growing with the number of
 * steps: torch rounds every tensor op to float32, and so does the reference (each op computed in
 * float64, rounded once); the native kernel computes the same ops in float32 but may fuse a
 * multiply-add (one rounding instead of two), so it may differ by a few ulps per step. A wrong rule
 * (a missing dampening, nesterov or bias-correction term) is off by ~lr * |grad|, 10^4 times more.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AdamHyper, Kernels, SgdHyper, Shape, Storage } from '../src/backend/kernels.js';
import { blockedCopy, layoutOf, native, paddingIsZero, ref } from './helpers/backends.js';
import { Generator, numel, randn } from './helpers/data.js';

// ---- float32 ulp comparison ------------------------------------------------------------------

const EPS32 = 2 ** -23;

/**
 * Asserts |actual - expected| <= maxUlps float32 ulps of max(|expected|, M) elementwise, where M is
 * the largest |expected| of the tensor: a parameter that an update brought near zero (cancellation)
 * is allowed the same absolute error as the tensor's large values, which is what a one-ulp
 * difference in an operand of the update produces.
 */
function assertUlps(actual: ArrayLike<number>, expected: ArrayLike<number>, maxUlps: number, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: ${actual.length} values, expected ${expected.length}`);
  let M = 0;
  for (let i = 0; i < expected.length; i++) M = Math.max(M, Math.abs(expected[i]!));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(a) || Number.isNaN(e)) {
      if (Number.isNaN(a) && Number.isNaN(e)) continue;
      assert.fail(`${label}: element ${i} is ${a} but expected ${e}`);
    }
    const ulps = Math.abs(a - e) / (EPS32 * Math.max(Math.abs(e), M, Number.MIN_VALUE));
    if (ulps > worst) {
      worst = ulps;
      at = i;
    }
  }
  if (worst > maxUlps) {
    assert.fail(`${label}: element ${at} is ${actual[at]} but expected ${expected[at]} (${worst.toFixed(1)} ulps of the tensor's scale apart, allowed ${maxUlps})`);
  }
}

// ---- running an optimizer through the kernels --------------------------------------------------

type Kind = 'sgd' | 'adam' | 'adamw';

/** torch.optim keyword arguments as the python script writes them. */
interface TorchHyper {
  lr?: number;
  momentum?: number;
  dampening?: number;
  weight_decay?: number;
  nesterov?: boolean;
  maximize?: boolean;
  betas?: [number, number];
  eps?: number;
}

function sgdHyper(h: TorchHyper): SgdHyper {
  return {
    lr: h.lr ?? 0.1,
    momentum: h.momentum ?? 0,
    dampening: h.dampening ?? 0,
    weightDecay: h.weight_decay ?? 0,
    nesterov: h.nesterov ?? false,
    maximize: h.maximize ?? false,
  };
}

function adamHyper(kind: Kind, h: TorchHyper, step: number): AdamHyper {
  return {
    lr: h.lr ?? 1e-3,
    beta1: h.betas?.[0] ?? 0.9,
    beta2: h.betas?.[1] ?? 0.999,
    eps: h.eps ?? 1e-8,
    weightDecay: h.weight_decay ?? (kind === 'adamw' ? 1e-2 : 0),
    decoupled: kind === 'adamw',
    maximize: h.maximize ?? false,
    step,
  };
}

/** How the native run lays out its operands. */
interface Layouts {
  /** 4-D gradients in a blocked layout (a 1x1-conv copy: nChw8c/nChw16c with a padded tail). */
  blockedGrads?: boolean;
  /** 4-D parameters and their state in a blocked layout (updated through a staged copy). */
  blockedParams?: boolean;
}

interface Trajectory {
  /** Parameters after each step: [step][param][element]. */
  params: Float32Array[][];
  /** State after each step: SGD [buf per param] ([] without momentum); Adam [m per param, v per param]. */
  state: Float32Array[][][];
}

/** Uploads host data, in a blocked layout when asked (4-D, native only). */
function upload(k: Kernels, data: ArrayLike<number>, shape: Shape, blocked: boolean): Storage {
  const s = k.fromHost(Float32Array.from(data), shape, 'float32');
  if (!blocked || shape.length !== 4 || k !== native) return s;
  const b = blockedCopy(k, s, shape, true);
  k.dispose(s);
  return b;
}

/**
 * Runs `steps` updates of an optimizer on backend `k` from parameters p0 with the given gradients,
 * reading parameters and state back after each step; frees everything and checks (native) that no
 * memory leaked.
 */
function trajectory(k: Kernels, kind: Kind, h: TorchHyper, shapes: Shape[], p0: ArrayLike<number>[], grads: ArrayLike<number>[][], lay: Layouts = {}): Trajectory {
  const m0 = k.memoryInUse();
  const params = shapes.map((s, i) => upload(k, p0[i]!, s, lay.blockedParams === true));
  let bufs: (Storage | null)[] = shapes.map(() => null);
  const m = shapes.map((s) => upload(k, new Float32Array(numel(s)), s, lay.blockedParams === true));
  const v = shapes.map((s) => upload(k, new Float32Array(numel(s)), s, lay.blockedParams === true));
  const out: Trajectory = { params: [], state: [] };
  const read = (ss: readonly (Storage | null)[]): Float32Array[] => ss.map((s, i) => k.toHost!(s!, shapes[i]!) as Float32Array);
  try {
    grads.forEach((gs, step) => {
      const g = shapes.map((s, i) => upload(k, gs[i]!, s, lay.blockedGrads === true));
      try {
        if (kind === 'sgd') {
          const hy = sgdHyper(h);
          const nb = k.sgdStep(params, g, bufs, shapes, hy);
          if (hy.momentum === 0) {
            assert.deepEqual(nb, [], 'sgdStep without momentum returns no buffers');
          } else {
            assert.equal(nb.length, shapes.length, 'one momentum buffer per parameter');
            nb.forEach((b, i) => {
              if (bufs[i] !== null) assert.equal(b, bufs[i], `step ${step + 1}: an existing momentum buffer must be returned as the same storage`);
              else assert.ok(!params.includes(b) && !g.includes(b), 'a new momentum buffer is a fresh storage');
            });
            bufs = nb;
          }
          out.state.push(hy.momentum === 0 ? [] : [read(bufs)]);
        } else {
          k.adamStep(params, g, m, v, shapes, adamHyper(kind, h, step + 1));
          out.state.push([read(m), read(v)]);
        }
        out.params.push(read(params));
      } finally {
        for (const s of g) k.dispose(s);
      }
    });
  } finally {
    for (const s of [...params, ...m, ...v]) k.dispose(s);
    for (const s of bufs) if (s !== null) k.dispose(s);
  }
  if (k === native) assert.equal(k.memoryInUse(), m0, `${kind}: native memoryInUse() must return to its start (leak)`);
  return out;
}

// ---- against PyTorch ---------------------------------------------------------------------------

const PY = '/usr/bin/python3'; // Debian's python with python3-torch (the pyenv python3 has no torch)

interface TorchCase {
  kind: Kind;
  name: string;
  hyper: TorchHyper;
  p0: number[][];
  grads: number[][][];
  traj: number[][][];
  state: number[][][] | number[][][][];
}

interface TorchRun {
  torch: string;
  shapes: number[][];
  steps: number;
  cases: TorchCase[];
}

/** PyTorch's trajectories, or why they are unavailable. */
const torchRun: TorchRun | string = (() => {
  const script = fileURLToPath(new URL('../../test/py/optim_trajectories.py', import.meta.url));
  const r = spawnSync(PY, [script], { encoding: 'utf8', timeout: 300000, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) {
    const probe = spawnSync(PY, ['-c', 'import torch'], { encoding: 'utf8', timeout: 120000 });
    if (probe.status !== 0) return `PyTorch is not available (${PY} -c "import torch" failed)`;
    throw new Error(`test/py/optim_trajectories.py failed:\n${r.stderr}`);
  }
  return JSON.parse(r.stdout) as TorchRun;
})();

/** Allowed ulps after `step` steps (1-based): the differences of each step can add up. */
const REF_ULPS = (step: number): number => 2 * step;
const NATIVE_ULPS = (step: number): number => 4 * step;

function compareWithTorch(t: TestContext, backend: 'reference' | 'native', lay: Layouts): void {
  if (typeof torchRun === 'string') {
    t.skip(torchRun);
    return;
  }
  const k = backend === 'native' ? native : ref;
  if (k === null) {
    t.skip('native addon not built');
    return;
  }
  const allowed = backend === 'native' ? NATIVE_ULPS : REF_ULPS;
  const errors: string[] = [];
  for (const c of torchRun.cases) {
    try {
      const got = trajectory(k, c.kind, c.hyper, torchRun.shapes, c.p0, c.grads, lay);
      for (let s = 0; s < torchRun.steps; s++) {
        torchRun.shapes.forEach((_shape, i) => {
          assertUlps(got.params[s]![i]!, c.traj[s]![i]!, allowed(s + 1), `${c.name}: parameter ${i} after step ${s + 1}`);
        });
        const expectState = c.kind === 'sgd' ? ((c.state[s] as number[][]).length === 0 ? [] : [c.state[s] as number[][]]) : (c.state[s] as number[][][]);
        assert.equal(got.state[s]!.length, expectState.length, `${c.name}: state tensors after step ${s + 1}`);
        expectState.forEach((list, j) =>
          list.forEach((e, i) => assertUlps(got.state[s]![j]![i]!, e, allowed(s + 1), `${c.name}: state ${j} of parameter ${i} after step ${s + 1}`)),
        );
      }
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  if (errors.length > 0) assert.fail(`${errors.length} of ${torchRun.cases.length} cases differ from PyTorch ${torchRun.torch}:\n${errors.join('\n')}`);
}

describe('fused optimizer kernels against PyTorch 1.13 trajectories', () => {
  test('reference backend: SGD (momentum, dampening, nesterov, weight decay, maximize), Adam, AdamW', (t) => {
    compareWithTorch(t, 'reference', {});
  });
  test('native backend: the same cases, plain layouts', (t) => {
    compareWithTorch(t, 'native', {});
  });
  test('native backend: the same cases with 4-D gradients in a blocked layout', (t) => {
    compareWithTorch(t, 'native', { blockedGrads: true });
  });
  test('native backend: the same cases with 4-D parameters, state and gradients in blocked layouts', (t) => {
    compareWithTorch(t, 'native', { blockedGrads: true, blockedParams: true });
  });
});

// ---- native against reference (no PyTorch needed) ----------------------------------------------

function nativeTest(name: string, fn: (nk: Kernels) => void): void {
  test(name, (t) => {
    if (native === null) {
      t.skip('native addon not built');
      return;
    }
    fn(native);
  });
}

describe('fused optimizer kernels: native against reference', () => {
  const shapes: Shape[] = [[0], [1], [33], [8, 17], [16, 8, 3, 3], [4096 + 7]];
  const gen = new Generator(77);
  const p0 = shapes.map((s) => randn(gen, numel(s)));
  const grads = [0, 1, 2, 3, 4].map(() => shapes.map((s) => randn(gen, numel(s), 0.3)));
  const cases: [Kind, TorchHyper][] = [
    ['sgd', { lr: 0.1 }],
    ['sgd', { lr: 0.05, momentum: 0.9, dampening: 0.1, weight_decay: 1e-3 }],
    ['sgd', { lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 5e-4, maximize: true }],
    ['adam', { lr: 1e-2, weight_decay: 0.01 }],
    ['adamw', { lr: 1e-2, betas: [0.8, 0.9], eps: 1e-6, weight_decay: 0.05, maximize: true }],
  ];
  for (const [kind, h] of cases) {
    for (const lay of [{}, { blockedGrads: true }, { blockedGrads: true, blockedParams: true }] as Layouts[]) {
      nativeTest(`${kind} ${JSON.stringify(h)}${lay.blockedParams ? ' blocked parameters and grads' : lay.blockedGrads ? ' blocked grads' : ''}: 5 steps, parameters incl. [0] and [4103]`, (nk) => {
        const r = trajectory(ref, kind, h, shapes, p0, grads);
        const n = trajectory(nk, kind, h, shapes, p0, grads, lay);
        r.params.forEach((ps, s) =>
          ps.forEach((p, i) => assertUlps(n.params[s]![i]!, p, NATIVE_ULPS(s + 1), `${kind} parameter ${i} ${JSON.stringify(shapes[i])} after step ${s + 1}`)),
        );
        r.state.forEach((st, s) =>
          st.forEach((list, j) => list.forEach((e, i) => assertUlps(n.state[s]![j]![i]!, e, NATIVE_ULPS(s + 1), `${kind} state ${j}/${i} after step ${s + 1}`))),
        );
      });
    }
  }

  nativeTest("a convolution's own weight-gradient layout as grads (reordered to the plain parameter)", (nk) => {
    // dw of a real convolution, in the layout oneDNN's backward-weights primitive chose
    const xs: Shape = [2, 16, 7, 7];
    const ws: Shape = [24, 16, 3, 3];
    const ys: Shape = [2, 24, 7, 7];
    const g2 = new Generator(5);
    const x = nk.fromHost(randn(g2, numel(xs)), xs, 'float32');
    const dy = nk.fromHost(randn(g2, numel(ys)), ys, 'float32');
    const p = { stride: [1, 1] as [number, number], padding: [1, 1] as [number, number], dilation: [1, 1] as [number, number], groups: 1 };
    const { dw, db } = nk.conv2dBackwardWeights(dy, ys, x, xs, ws, true, p);
    nk.dispose(x);
    nk.dispose(dy);
    nk.dispose(db!);
    const lay = layoutOf(dw);
    try {
      const gHost = nk.toHost!(dw, ws);
      const w0 = randn(g2, numel(ws));
      const h: SgdHyper = { lr: 0.01, momentum: 0.9, dampening: 0, weightDecay: 1e-4, nesterov: true, maximize: false };
      const run = (k: Kernels, grad: Storage): Float32Array[] => {
        const w = k.fromHost(w0, ws, 'float32');
        const out: Float32Array[] = [];
        let bufs: (Storage | null)[] = [null];
        for (let s = 0; s < 3; s++) {
          bufs = k.sgdStep([w], [grad], bufs, [ws], h);
          out.push(k.toHost!(w, ws) as Float32Array);
        }
        assert.equal(layoutOf(w) ?? 'plain', 'plain', 'the parameter stays in its plain layout');
        k.dispose(w);
        k.dispose(bufs[0]!);
        return out;
      };
      const rg = ref.fromHost(gHost, ws, 'float32');
      const expected = run(ref, rg);
      ref.dispose(rg);
      const got = run(nk, dw);
      got.forEach((g, s) => assertUlps(g, expected[s]!, NATIVE_ULPS(s + 1), `step ${s + 1} with dw in layout ${lay}`));
    } finally {
      nk.dispose(dw);
    }
  });

  nativeTest('updates are in place: a reshape view of a plain parameter sees them', (nk) => {
    const shape: Shape = [4, 6];
    const p = nk.fromHost(Float32Array.from({ length: 24 }, (_, i) => i / 8), shape, 'float32');
    const view = nk.reshape(p, shape, [24]);
    const g = nk.full(shape, 'float32', 1);
    try {
      nk.sgdStep([p], [g], [], [shape], { lr: 0.5, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false });
      const expected = Array.from({ length: 24 }, (_, i) => i / 8 - 0.5);
      assertUlps(nk.toHost!(p, shape), expected, 0, 'parameter after p -= 0.5 * 1');
      assertUlps(nk.toHost!(view, [24]), expected, 0, 'a reshape view made before the step');
    } finally {
      for (const s of [p, view, g]) nk.dispose(s);
    }
  });

  nativeTest('a padded blocked parameter keeps its layout and a zero tail (Adam with eps = 0 would put 0/0 there)', (nk) => {
    const shape: Shape = [2, 6, 3, 3]; // 6 channels: nChw8c/nChw16c with a zero-padded tail
    const g3 = new Generator(9);
    const w0 = randn(g3, numel(shape));
    const g0 = randn(g3, numel(shape));
    const plain = nk.fromHost(w0, shape, 'float32');
    const w = blockedCopy(nk, plain, shape, true);
    nk.dispose(plain);
    const g = nk.fromHost(g0, shape, 'float32');
    const m = nk.full(shape, 'float32', 0);
    const v = nk.full(shape, 'float32', 0);
    try {
      const before = layoutOf(w);
      nk.adamStep([w], [g], [m], [v], [shape], { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 0, weightDecay: 0, decoupled: false, maximize: false, step: 1 });
      assert.equal(layoutOf(w), before, 'the parameter keeps its blocked layout');
      const expected = Array.from(w0, (x, i) => Math.fround(x - 0.1 * Math.sign(g0[i]!)));
      assertUlps(nk.toHost!(w, shape), expected, 2, 'Adam step 1 moves by lr * sign(grad) (eps = 0)');
      assert.equal(paddingIsZero(w), true, 'the padded channel tail is still zero');
    } finally {
      for (const s of [w, g, m, v]) nk.dispose(s);
    }
  });
});

// ---- hand-worked steps and errors (every backend) ------------------------------------------------

for (const [name, kOrNull] of [['reference', ref], ['native', native]] as [string, Kernels | null][]) {
  describe(`${name} backend: hand-worked fused updates and errors`, () => {
    const run = (t: TestContext, fn: (k: Kernels) => void): void => {
      if (kOrNull === null) {
        t.skip('native addon not built');
        return;
      }
      fn(kOrNull);
    };

    test('SGD with momentum 0.5 and weight decay 0.1, two steps on p = [1, -2]', (t) =>
      run(t, (k) => {
        // g = [0.5, 1]; step 1: d = g + 0.1 p = [0.6, 0.8]; buf = d; p = p - 0.5 d = [0.7, -2.4]
        // step 2 (same g): d = [0.5 + 0.07, 1 - 0.24] = [0.57, 0.76];
        //   buf = 0.5 [0.6, 0.8] + d = [0.87, 1.16]; p = [0.7 - 0.435, -2.4 - 0.58] = [0.265, -2.98]
        const p = k.fromHost(Float32Array.from([1, -2]), [2], 'float32');
        const g = k.fromHost(Float32Array.from([0.5, 1]), [2], 'float32');
        const h: SgdHyper = { lr: 0.5, momentum: 0.5, dampening: 0, weightDecay: 0.1, nesterov: false, maximize: false };
        let bufs = k.sgdStep([p], [g], [null], [[2]], h);
        assertUlps(k.toHost!(p, [2]), [0.7, -2.4], 2, 'p after step 1');
        assertUlps(k.toHost!(bufs[0]!, [2]), [0.6, 0.8], 2, 'buf after step 1');
        bufs = k.sgdStep([p], [g], bufs, [[2]], h);
        assertUlps(k.toHost!(p, [2]), [0.265, -2.98], 4, 'p after step 2');
        assertUlps(k.toHost!(bufs[0]!, [2]), [0.87, 1.16], 4, 'buf after step 2');
        for (const s of [p, g, bufs[0]!]) k.dispose(s);
      }));

    test('Adam step 1 moves every parameter by lr * sign(grad); AdamW also shrinks by 1 - lr * wd', (t) =>
      run(t, (k) => {
        // step 1: m = (1 - b1) g, v = (1 - b2) g^2, so m / (1 - b1) / (sqrt(v / (1 - b2)) + eps) = g / (|g| + eps)
        const p0 = [1, -2, 0.5];
        const g0 = [0.3, -4, 1e-3];
        for (const decoupled of [false, true]) {
          const p = k.fromHost(Float32Array.from(p0), [3], 'float32');
          const g = k.fromHost(Float32Array.from(g0), [3], 'float32');
          const m = k.full([3], 'float32', 0);
          const v = k.full([3], 'float32', 0);
          const h: AdamHyper = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: decoupled ? 0.5 : 0, decoupled, maximize: false, step: 1 };
          k.adamStep([p], [g], [m], [v], [[3]], h);
          const expected = p0.map((x, i) => x * (decoupled ? 1 - 0.01 * 0.5 : 1) - (0.01 * g0[i]!) / (Math.abs(g0[i]!) + 1e-8));
          assertUlps(k.toHost!(p, [3]), expected, 4, decoupled ? 'AdamW step 1' : 'Adam step 1');
          assertUlps(k.toHost!(m, [3]), g0.map((x) => 0.1 * x), 2, 'exp_avg after step 1');
          for (const s of [p, g, m, v]) k.dispose(s);
        }
      }));

    test('bad calls fail with a clear message naming the problem', (t) =>
      run(t, (k) => {
        const p = k.fromHost(Float32Array.from([1, 2, 3]), [3], 'float32');
        const g = k.fromHost(Float32Array.from([1, 2]), [2], 'float32');
        const sgd: SgdHyper = { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false };
        const adam: AdamHyper = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false, maximize: false, step: 0 };
        try {
          assert.throws(() => k.sgdStep([p], [p, p], [null], [[3]], sgd), /sgdStep: 1 parameters but 2 grads/);
          assert.throws(() => k.sgdStep([p], [g], [null], [[3]], sgd), /sgdStep: grad 0 has 2 elements, its shape \[3\] needs 3/);
          assert.throws(() => k.adamStep([p], [p], [p], [p], [[3]], adam), /adamStep: step must be >= 1/);
        } finally {
          k.dispose(p);
          k.dispose(g);
        }
      }));
  });
}
