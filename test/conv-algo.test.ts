/**
 * The native backend's convolution algorithm choice (native/src/conv.cc, src/backend/native/conv-algo.ts):
 * - where oneDNN 2.6 has f32 Winograd (3x3, stride 1, no dilation, groups 1, padding <= 1, AVX-512
 *   CPUs) and that nothing else claims it;
 * - the force switch (`setConvAlgo`, env CONVNET_CONV_ALGO) in all three directions;
 * - the choice cache: one choice per geometry, direction and mode, timed once in 'auto' mode
 *   (where there are two candidates) and reused;
 * - bfloat16 as a precision of its own (direct only, its own cached choices);
 * - Winograd's numerical error against the reference backend (float64 accumulation, rounded once),
 *   forward / backward-data / backward-weights, on shapes where Winograd runs, next to the error of
 *   the f32 direct algorithm on the same data. The pinned bound: Winograd's worst error at most
 *   16x the direct algorithm's and at most 2e-4 of the output's RMS. Why 16x: a float32 simulation of
 *   oneDNN's F(4x4,3x3) (its interpolation points 0, ±5/8, ±3/2, read from its transforms) gives
 *   1.4-5x the direct error on these shapes and on AlexNet/VGG ones (worst 2e-5 of the RMS), so 16x
 *   leaves a 3x margin for the kernel's own operation order and still fails a wrong transform
 *   (errors of order 1). The Winograd tests run only on CPUs with AVX-512 (elsewhere oneDNN has no
 *   Winograd, which the availability test checks instead).
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Conv2dParams, Kernels, Shape, Storage } from '../src/backend/kernels.js';
import { addon } from '../src/backend/native/addon.js';
import { convAlgos, getConvAlgo, resetConvAlgos, setConvAlgo, type ConvAlgoChoice, type ConvAlgoMode } from '../src/backend/native/conv-algo.js';
import { nativeCpuInfo } from '../src/backend/native/cpu.js';
import { float32ToBfloat16 } from '../src/tensor/dtype.js';
import { blockedCopy, native, paddingIsZero, ref } from './helpers/backends.js';
import { Generator, numel, randn } from './helpers/data.js';

/** oneDNN 2.6's f32 Winograd kernels need avx512_core: AVX-512 F, BW, VL and DQ. */
const avx512core = ((): boolean => {
  let info = '';
  try {
    info = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return false;
  }
  const flags = new Set((/^flags\s*:(.*)$/m.exec(info)?.[1] ?? '').trim().split(/\s+/));
  return ['avx512f', 'avx512bw', 'avx512vl', 'avx512dq'].every((f) => flags.has(f));
})();
const NO_WINOGRAD = 'this CPU has no AVX-512, so oneDNN 2.6 has no f32 Winograd here (the availability test checks that)';

/** A convolution geometry. */
interface Geom {
  x: Shape;
  w: Shape;
  p: Conv2dParams;
  bias: boolean;
}

function geom(N: number, C: number, H: number, O: number, k: number, s: number, pad: number, dil = 1, groups = 1, bias = true): Geom & { y: Shape } {
  const oh = Math.floor((H + 2 * pad - dil * (k - 1) - 1) / s) + 1;
  return { x: [N, C, H, H], w: [O, C / groups, k, k], y: [N, O, oh, oh], p: { stride: [s, s], padding: [pad, pad], dilation: [dil, dil], groups }, bias };
}

function name(g: Geom & { y: Shape }): string {
  return `x [${g.x.join(', ')}] w [${g.w.join(', ')}] s${g.p.stride[0]} p${g.p.padding[0]} d${g.p.dilation[0]} g${g.p.groups}`;
}

/** Runs `fn` with the native backend (skipping without it) and the mode restored afterwards. */
function nativeTest(title: string, fn: (nk: Kernels, t: TestContext) => void): void {
  test(title, (t) => {
    if (native === null || addon === null) {
      t.skip('native addon not built');
      return;
    }
    const prev = getConvAlgo();
    try {
      fn(native, t);
    } finally {
      setConvAlgo(prev);
    }
  });
}

/** The three directions of one convolution on backend k from host data; returns host results. */
function runAll(k: Kernels, g: Geom & { y: Shape }, x: Float32Array, w: Float32Array, b: Float32Array, dy: Float32Array, blocked: boolean): { y: Float32Array; dx: Float32Array; dw: Float32Array; db: Float32Array | null; padsZero: boolean } {
  const up = (d: Float32Array, s: Shape): Storage => {
    const h = k.fromHost(d, s, 'float32');
    if (!blocked || k !== native) return h;
    const bl = blockedCopy(k, h, s);
    k.dispose(h);
    return bl;
  };
  const xs = up(x, g.x);
  const dys = up(dy, g.y);
  const ws = k.fromHost(w, g.w, 'float32');
  const bs = k.fromHost(b, [g.w[0]!], 'float32');
  const ys = k.conv2d(xs, g.x, ws, g.w, g.bias ? bs : null, g.p, g.y);
  const dxs = k.conv2dBackwardData(dys, g.y, ws, g.w, g.x, g.p);
  const r = k.conv2dBackwardWeights(dys, g.y, xs, g.x, g.w, g.bias, g.p);
  const out = {
    y: k.toHost!(ys, g.y) as Float32Array,
    dx: k.toHost!(dxs, g.x) as Float32Array,
    dw: k.toHost!(r.dw, g.w) as Float32Array,
    db: r.db === null ? null : (k.toHost!(r.db, [g.w[0]!]) as Float32Array),
    padsZero: paddingIsZero(ys) && paddingIsZero(dxs) && paddingIsZero(r.dw),
  };
  for (const s of [xs, dys, ws, bs, ys, dxs, r.dw, ...(r.db === null ? [] : [r.db])]) k.dispose(s);
  return out;
}

/** The cached choices for geometry g (all directions). */
function choicesFor(g: Geom & { y: Shape }, mode?: ConvAlgoMode): ConvAlgoChoice[] {
  return convAlgos().choices.filter(
    (c) => c.x.join() === g.x.join() && c.w.join() === g.w.join() && c.stride.join() === g.p.stride.join() && c.padding.join() === g.p.padding.join() && (mode === undefined || c.mode === mode),
  );
}

function data(g: Geom & { y: Shape }, seed: number): { x: Float32Array; w: Float32Array; b: Float32Array; dy: Float32Array } {
  const gen = new Generator(seed);
  const K = g.w[1]! * g.w[2]! * g.w[3]!;
  return { x: randn(gen, numel(g.x)), w: randn(gen, numel(g.w), 1 / Math.sqrt(K)), b: randn(gen, g.w[0]!, 0.1), dy: randn(gen, numel(g.y), 0.1) };
}

// geometries where oneDNN 2.6 has Winograd (on AVX-512), and ones where it has not (and why)
const WINO_OK = [geom(2, 16, 8, 32, 3, 1, 1), geom(2, 3, 10, 20, 3, 1, 1), geom(1, 32, 9, 16, 3, 1, 0, 1, 1, false)];
const WINO_NOT: [Geom & { y: Shape }, RegExp][] = [
  [geom(2, 16, 12, 32, 5, 1, 2), /kernel is not 3x3/],
  [geom(2, 16, 12, 32, 3, 2, 1), /stride is not 1/],
  [geom(2, 16, 12, 32, 3, 1, 2, 2), /dilation is not 1/],
  [geom(2, 32, 8, 32, 3, 1, 1, 1, 2), /groups > 1/],
  [geom(2, 16, 8, 32, 3, 1, 2), /padding is not 0 or 1/],
];

describe('convolution algorithm choice (native)', () => {
  nativeTest(`Winograd exists exactly where oneDNN 2.6 implements it (this CPU: ${avx512core ? 'AVX-512' : 'no AVX-512'})`, () => {
    const errors: string[] = [];
    const impl = (g: Geom & { y: Shape }) =>
      addon!.convImpl(g.x, g.w, g.y, g.p.stride, g.p.padding, g.p.dilation, g.p.groups) as {
        forward: string;
        winograd: { reason: string; forward: string | null; backwardData: string | null; backwardWeights: string | null };
      };
    for (const g of WINO_OK) {
      const w = impl(g).winograd;
      const all = [w.forward, w.backwardData, w.backwardWeights];
      if (avx512core) {
        if (!all.every((s) => s !== null && /wino/.test(s))) errors.push(`${name(g)}: expected Winograd primitives in all directions, got ${JSON.stringify(w)}`);
      } else if (!all.every((s) => s === null) || !/AVX-512/.test(w.reason)) {
        errors.push(`${name(g)}: a CPU without AVX-512 has no oneDNN Winograd, got ${JSON.stringify(w)}`);
      }
    }
    for (const [g, why] of WINO_NOT) {
      const i = impl(g);
      if (![i.winograd.forward, i.winograd.backwardData, i.winograd.backwardWeights].every((s) => s === null) || !why.test(i.winograd.reason)) {
        errors.push(`${name(g)}: expected no Winograd because ${why}, got ${JSON.stringify(i.winograd)}`);
      }
      if (/wino/.test(i.forward)) errors.push(`${name(g)}: the direct primitive is a Winograd one (${i.forward})`);
    }
    assert.deepEqual(errors, []);
  });

  nativeTest('setConvAlgo forces direct or Winograd (where it exists) in all three directions; bad names are refused', (nk) => {
    const g = WINO_OK[0]!;
    const [g5] = WINO_NOT[0]!;
    const d = data(g, 1);
    const d5 = data(g5, 2);
    resetConvAlgos();
    const before = getConvAlgo();
    assert.equal(setConvAlgo('direct'), before, 'setConvAlgo returns the previous mode');
    assert.equal(getConvAlgo(), 'direct');
    runAll(nk, g, d.x, d.w, d.b, d.dy, true);
    const direct = choicesFor(g, 'direct');
    assert.deepEqual(direct.map((c) => c.direction).sort(), ['backwardData', 'backwardWeights', 'forward']);
    for (const c of direct) {
      assert.equal(c.algorithm, 'direct', `${c.direction} forced direct`);
      assert.equal(c.reason, 'forced direct');
      assert.doesNotMatch(c.impl, /wino/, `${c.direction} runs a direct implementation`);
    }
    setConvAlgo('winograd');
    runAll(nk, g, d.x, d.w, d.b, d.dy, true);
    runAll(nk, g5, d5.x, d5.w, d5.b, d5.dy, false);
    for (const c of choicesFor(g, 'winograd')) {
      if (avx512core) {
        assert.equal(c.algorithm, 'winograd', `${c.direction} forced Winograd`);
        assert.match(c.impl, /wino/);
      } else {
        assert.equal(c.algorithm, 'direct', `${c.direction}: no Winograd on this CPU`);
        assert.match(c.reason, /forced winograd; Winograd unavailable: .*AVX-512.*direct used/);
      }
    }
    const five = choicesFor(g5, 'winograd');
    assert.equal(five.length, 3);
    for (const c of five) {
      assert.equal(c.algorithm, 'direct', `5x5 ${c.direction} stays direct when Winograd is forced`);
      assert.match(c.reason, /kernel is not 3x3/);
    }
    assert.throws(() => setConvAlgo('fast' as ConvAlgoMode), /must be 'auto', 'direct' or 'winograd', got 'fast'/);
    assert.throws(() => addon!.setConvAlgo('fast'), /must be 'auto', 'direct' or 'winograd', got 'fast'/);
    assert.equal(getConvAlgo(), 'winograd', 'a refused name leaves the mode unchanged');
  });

  nativeTest('auto mode chooses once per geometry and direction (timing both where Winograd exists) and reuses the choice', (nk) => {
    const g = WINO_OK[1]!; // 3 -> 20 channels: zero-padded channel tails in and out
    const g2 = WINO_OK[2]!;
    const d = data(g, 3);
    resetConvAlgos();
    setConvAlgo('auto');
    const first = runAll(nk, g, d.x, d.w, d.b, d.dy, true);
    const after1 = convAlgos();
    for (let i = 0; i < 2; i++) {
      const again = runAll(nk, g, d.x, d.w, d.b, d.dy, true);
      // the cached choice is reused: the same algorithm gives bit-identical results
      assert.deepEqual([again.y, again.dx, again.dw], [first.y, first.dx, first.dw], 'repeated calls give identical results');
      assert.ok(again.padsZero, 'zero-padded channel tails stay zero');
    }
    const after3 = convAlgos();
    assert.equal(after3.choices.length, after1.choices.length, 'no new choices for a geometry seen before');
    assert.equal(after3.measurements, after1.measurements, 'no new measurements');
    const cs = choicesFor(g, 'auto');
    assert.deepEqual(cs.map((c) => c.direction).sort(), ['backwardData', 'backwardWeights', 'forward']);
    assert.equal(after1.measurements, avx512core ? 3 : 0, 'one timing per direction where Winograd is a candidate');
    for (const c of cs) {
      if (avx512core) {
        assert.ok(c.measured && c.ms.direct! > 0 && c.ms.winograd! > 0, `${c.direction} was timed: ${JSON.stringify(c.ms)}`);
        assert.equal(c.algorithm, c.ms.winograd! < c.ms.direct! ? 'winograd' : 'direct', `${c.direction} runs the faster algorithm`);
      } else {
        assert.ok(!c.measured && c.ms.direct === null && c.ms.winograd === null, `${c.direction} was not timed`);
        assert.equal(c.algorithm, 'direct');
        assert.match(c.reason, /^only direct: Winograd unavailable/);
      }
    }
    // another geometry gets its own choices; other modes keep theirs apart
    const d2 = data(g2, 4);
    runAll(nk, g2, d2.x, d2.w, d2.b, d2.dy, false);
    assert.equal(choicesFor(g2, 'auto').length, 3);
    setConvAlgo('direct');
    runAll(nk, g, d.x, d.w, d.b, d.dy, true);
    setConvAlgo('auto');
    const m = convAlgos().measurements;
    runAll(nk, g, d.x, d.w, d.b, d.dy, true);
    assert.equal(convAlgos().measurements, m, 'switching modes back and forth does not time again');
    assert.equal(choicesFor(g).length, 6, 'three choices per mode used');
  });

  nativeTest("bfloat16 is a precision of its own: always direct (Winograd is float32-only), oneDNN's bf16 primitive where the CPU runs bf16 natively, else float32 on converted data; cached apart from float32", (nk) => {
    const g = WINO_OK[0]!; // a 3x3 stride-1 layer: Winograd's shape
    const d = data(g, 5);
    const bf = (v: Float32Array, s: Shape): Storage => nk.fromHost(float32ToBfloat16(v), s, 'bfloat16');
    const bf16Native = nativeCpuInfo()!.bf16Native;
    resetConvAlgos();
    for (const mode of ['auto', 'winograd'] as const) {
      setConvAlgo(mode);
      const [xs, ws, bs, dys] = [bf(d.x, g.x), bf(d.w, g.w), bf(d.b, [g.w[0]!]), bf(d.dy, g.y)];
      const y = nk.conv2d(xs!, g.x, ws!, g.w, bs!, g.p, g.y);
      const dx = nk.conv2dBackwardData(dys!, g.y, ws!, g.w, g.x, g.p);
      const r = nk.conv2dBackwardWeights(dys!, g.y, xs!, g.x, g.w, true, g.p);
      try {
        assert.deepEqual([y.dtype, dx.dtype, r.dw.dtype, r.db?.dtype], ['bfloat16', 'bfloat16', 'bfloat16', 'bfloat16']);
        assert.ok(paddingIsZero(y) && paddingIsZero(dx), 'zero-padded tails stay zero in bf16');
      } finally {
        for (const s of [xs, ws, bs, dys, y, dx, r.dw, r.db]) if (s) nk.dispose(s);
      }
      runAll(nk, g, d.x, d.w, d.b, d.dy, true); // the float32 choices of the same geometry
    }
    const all = choicesFor(g);
    const b16 = all.filter((c) => c.dtype === 'bfloat16');
    assert.equal(b16.length, 6, 'three directions in each of two modes');
    assert.equal(all.filter((c) => c.dtype === 'float32').length, 6, 'float32 keeps its own choices');
    for (const c of b16) {
      assert.equal(c.algorithm, 'direct', `${c.mode} ${c.direction}`);
      assert.ok(!c.measured, 'bf16 choices are not timed');
      assert.match(c.reason, c.mode === 'winograd' ? /^forced winograd; bfloat16 runs the direct algorithm \(Winograd is float32-only\)$/ : /^bfloat16 runs the direct algorithm/);
      if (bf16Native) {
        assert.doesNotMatch(c.impl, /widened|^ref/, `${c.direction}: oneDNN's bf16 primitive runs (${c.impl})`);
      } else {
        assert.match(c.impl, /^float32 \S+ on widened bf16 data \(oneDNN 2\.6 has no bf16 convolution for this CPU \(it needs AVX-512\)\)$/);
        assert.doesNotMatch(c.impl, /wino/);
      }
    }
    const impl = addon!.convImpl(g.x, g.w, g.y, g.p.stride, g.p.padding, g.p.dilation, g.p.groups, 'bfloat16') as {
      dtype: string;
      forward: string | null;
      backwardData: string | null;
      backwardWeights: string | null;
      bf16Reason: string;
      winograd: { reason: string; forward: string | null };
    };
    assert.equal(impl.dtype, 'bfloat16');
    assert.equal(impl.winograd.forward, null);
    assert.match(impl.winograd.reason, /float32-only/);
    if (bf16Native) {
      assert.ok(impl.forward !== null && impl.backwardData !== null && impl.backwardWeights !== null, JSON.stringify(impl));
    } else {
      assert.deepEqual([impl.forward, impl.backwardData, impl.backwardWeights], [null, null, null]);
      assert.match(impl.bf16Reason, /needs AVX-512/);
    }
  });

  nativeTest('CONVNET_CONV_ALGO sets the starting mode; a bad value is a one-line error', () => {
    const entry = fileURLToPath(new URL('../src/backend/index.js', import.meta.url));
    const algo = fileURLToPath(new URL('../src/backend/native/conv-algo.js', import.meta.url));
    const script = `const b = await import(${JSON.stringify(entry)}); const a = await import(${JSON.stringify(algo)}); b.backendByName('native'); console.log(a.getConvAlgo());`;
    const run = (v: string) => spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, CONVNET_CONV_ALGO: v }, timeout: 120000 });
    const ok = run('direct');
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), 'direct');
    const bad = run('fastest');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /CONVNET_CONV_ALGO must be 'auto', 'direct' or 'winograd', got 'fastest'/);
  });
});

describe('Winograd numerical error against the reference backend (native, AVX-512 CPUs)', () => {
  // 3x3 stride-1 layers where oneDNN's Winograd runs: small AlexNet/VGG-like shapes, a zero-padded
  // channel tail (3 -> 20 channels), padding 0, blocked and plain inputs
  const cases: [Geom & { y: Shape }, boolean][] = [
    [geom(4, 32, 14, 32, 3, 1, 1), true],
    [geom(2, 16, 9, 48, 3, 1, 0), false],
    [geom(2, 3, 10, 20, 3, 1, 1), true],
    [geom(8, 64, 12, 64, 3, 1, 1, 1, 1, true), true],
  ];
  for (const [g, blocked] of cases) {
    nativeTest(`forward, backward-data, backward-weights: ${name(g)}${blocked ? ' (blocked inputs)' : ''}`, (nk, t) => {
      const d = data(g, 10 + cases.findIndex(([c]) => c === g));
      if (!avx512core) {
        // Without AVX-512 oneDNN has no Winograd: forcing it must run direct (saying why) and give
        // the direct results, bit for bit.
        setConvAlgo('direct');
        const dir = runAll(nk, g, d.x, d.w, d.b, d.dy, blocked);
        setConvAlgo('winograd');
        const forced = runAll(nk, g, d.x, d.w, d.b, d.dy, blocked);
        for (const c of choicesFor(g, 'winograd')) {
          assert.equal(c.algorithm, 'direct', `${c.direction}: ${c.reason}`);
          assert.match(c.reason, /AVX-512/);
        }
        for (const key of ['y', 'dx', 'dw', 'db'] as const) {
          if (dir[key] !== null) assert.deepEqual([...forced[key]!], [...dir[key]!], `${key}: forced Winograd equals direct here`);
        }
        t.diagnostic(NO_WINOGRAD);
        return;
      }
      const r = runAll(ref, g, d.x, d.w, d.b, d.dy, false);
      setConvAlgo('direct');
      const dir = runAll(nk, g, d.x, d.w, d.b, d.dy, blocked);
      setConvAlgo('winograd');
      const win = runAll(nk, g, d.x, d.w, d.b, d.dy, blocked);
      for (const c of choicesFor(g, 'winograd')) assert.equal(c.algorithm, 'winograd', `${c.direction} ran Winograd (${c.impl})`);
      assert.ok(win.padsZero, 'Winograd outputs keep zero-padded channel tails zero');
      const rms = (a: ArrayLike<number>): number => Math.sqrt(Array.from(a).reduce((s, v) => s + v * v, 0) / Math.max(a.length, 1));
      const err = (a: ArrayLike<number>, e: ArrayLike<number>): number => {
        let m = 0;
        for (let i = 0; i < e.length; i++) m = Math.max(m, Math.abs(a[i]! - e[i]!));
        return m / rms(e);
      };
      const lines: string[] = [];
      for (const key of ['y', 'dx', 'dw', 'db'] as const) {
        const e = r[key];
        if (e === null) continue;
        const ed = err(dir[key]!, e);
        const ew = err(win[key]!, e);
        lines.push(`${key}: direct ${ed.toExponential(2)}, winograd ${ew.toExponential(2)} of the RMS`);
        assert.ok(ew <= Math.max(16 * ed, 1e-6) && ew <= 2e-4, `${key}: Winograd error ${ew.toExponential(2)} exceeds 16x the direct error ${ed.toExponential(2)} or 2e-4 (of the output RMS)`);
      }
      t.diagnostic(lines.join('; '));
    });
  }
});
