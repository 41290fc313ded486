/**
 * Convolution throughput of the native (oneDNN) backend at the AlexNet (1-channel, as in the
 * lecture) and VGG-11 layer shapes, through the same NativeStorage/kernel adapter the library uses,
 * per algorithm: oneDNN's direct one, its f32 Winograd (where it exists: 3x3 stride-1 layers on
 * AVX-512 CPUs), and the per-layer automatic choice (`auto`, which times both once and caches the
 * faster per direction; the row shows what it chose).
 *
 *   node dist/bench/conv.js [--batch 128] [--layers alexnet|vgg|all] [--iters 3] [--algos direct,winograd,auto]
 *
 * For every layer and algorithm it times forward, backward-data and backward-weights and prints
 * GFLOP/s with FLOPs = 2 * N * O * OH * OW * (C / groups) * KH * KW (Winograd's are "effective"
 * GFLOP/s: the direct algorithm's FLOPs over Winograd's time). A direction where the forced
 * algorithm does not exist prints "n/a". Inputs are laid out as in a real network: the first
 * layer's input comes plain from the host, deeper layers' inputs and every dy arrive in oneDNN's
 * blocked layout (as produced by the previous conv/pool/relu).
 */
import { addon, addonError, hd, ns, type NativeAddon } from '../src/backend/native/addon.js';
import { nnKernels } from '../src/backend/native/nn.js';
import { convAlgos, setConvAlgo, type ConvAlgoChoice, type ConvAlgoMode } from '../src/backend/native/conv-algo.js';
import type { Conv2dParams, Storage } from '../src/backend/kernels.js';

interface Layer {
  net: string;
  name: string;
  c: number;
  h: number;
  o: number;
  k: number;
  s: number;
  p: number;
}

const ALEXNET: Layer[] = [
  { net: 'alexnet', name: 'conv1', c: 1, h: 224, o: 96, k: 11, s: 4, p: 1 },
  { net: 'alexnet', name: 'conv2', c: 96, h: 26, o: 256, k: 5, s: 1, p: 2 },
  { net: 'alexnet', name: 'conv3', c: 256, h: 12, o: 384, k: 3, s: 1, p: 1 },
  { net: 'alexnet', name: 'conv4', c: 384, h: 12, o: 384, k: 3, s: 1, p: 1 },
  { net: 'alexnet', name: 'conv5', c: 384, h: 12, o: 256, k: 3, s: 1, p: 1 },
];

const VGG: Layer[] = [
  [224, 1, 64],
  [112, 64, 128],
  [56, 128, 256],
  [56, 256, 256],
  [28, 256, 512],
  [28, 512, 512],
  [14, 512, 512],
].map(([h, c, o], i) => ({ net: 'vgg11', name: `conv${i + 1}`, c, h, o, k: 3, s: 1, p: 1 }));

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

/** Uniform values in [-1, 1) from a fast xorshift generator (deterministic). */
function randomArray(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = (s >>> 0) / 2147483648 - 1;
  }
  return a;
}

function main(): void {
  if (addon === null) {
    console.error(`bench/conv: ${addonError}`);
    process.exit(1);
  }
  const a: NativeAddon = addon;
  const k = nnKernels(a);
  const batch = Number(arg('batch', '128'));
  const iters = Math.max(1, Number(arg('iters', '3')));
  const which = arg('layers', 'all');
  const algos = arg('algos', 'direct,winograd,auto').split(',') as ConvAlgoMode[];
  if (!Number.isInteger(batch) || batch < 1 || !['alexnet', 'vgg', 'all'].includes(which) || !algos.every((m) => ['direct', 'winograd', 'auto'].includes(m))) {
    console.error('usage: node dist/bench/conv.js [--batch N] [--layers alexnet|vgg|all] [--iters N] [--algos direct,winograd,auto]');
    process.exit(2);
  }
  const layers = [...(which !== 'vgg' ? ALEXNET : []), ...(which !== 'alexnet' ? VGG : [])];

  const dispose = (...xs: (Storage | null)[]): void => {
    for (const x of xs) if (x !== null) a.dispose(hd(x));
  };
  const upload = (shape: number[], seed: number, scale: number): Storage => {
    const n = shape.reduce((p, q) => p * q, 1);
    const data = randomArray(n, seed);
    if (scale !== 1) for (let i = 0; i < n; i++) data[i] *= scale;
    return ns(a.fromHost(data, shape, 'float32'));
  };
  /** The same values in oneDNN's blocked layout (a 1x1 identity convolution), as a conv/pool/relu would leave them. */
  const blocked = (x: Storage, shape: number[]): Storage => {
    const c = shape[1]!;
    const eye = new Float32Array(c * c);
    for (let i = 0; i < c; i++) eye[i * c + i] = 1;
    const w = ns(a.fromHost(eye, [c, c, 1, 1], 'float32'));
    const one: Conv2dParams = { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 };
    const y = k.conv2d(x, shape, w, [c, c, 1, 1], null, one, shape);
    dispose(w, x);
    return y;
  };
  /** Mean and best time per call (ms) after one warm-up call (primitive creation, first touch, the auto choice). */
  const time = (f: () => (Storage | null)[]): { mean: number; best: number } => {
    dispose(...f());
    let total = 0;
    let best = Infinity;
    for (let i = 0; i < iters; i++) {
      const t0 = performance.now();
      dispose(...f());
      const t = performance.now() - t0;
      total += t;
      best = Math.min(best, t);
    }
    return { mean: total / iters, best };
  };

  console.log(`convnet native conv benchmark: batch ${batch}, ${iters} timed iteration(s) after 1 warm-up, algorithms ${algos.join(', ')}`);
  const header = `${'layer'.padEnd(14)} ${'shape'.padEnd(30)} ${'GFLOP'.padStart(7)} ${'algorithm'.padEnd(10)} ${'fwd'.padStart(16)} ${'bwd-data'.padStart(16)} ${'bwd-weights'.padStart(16)}  auto choice (ms direct / winograd)`;
  console.log(header);
  console.log('-'.repeat(header.length));
  type Timing = { mean: number; best: number } | null;
  const totals = new Map<ConvAlgoMode, { flop: number; t: [number, number, number]; tb: [number, number, number]; complete: boolean }>();
  /** "GFLOP/s of the mean (GFLOP/s of the best call)", or n/a. */
  const cell = (flop: number, t: Timing): string =>
    t === null ? 'n/a'.padStart(16) : `${((flop / t.mean) * 1e-6).toFixed(1).padStart(7)} (${((flop / t.best) * 1e-6).toFixed(1).padStart(6)})`;
  const DIRS = ['forward', 'backwardData', 'backwardWeights'] as const;
  for (const L of layers) {
    // Each layer has its own tensor sizes: drop the previous layer's cached blocks so the backend's
    // bounded allocation cache holds this layer's working set (as it does in a training loop).
    if (typeof a.emptyCache === 'function') a.emptyCache();
    const oh = Math.floor((L.h + 2 * L.p - L.k) / L.s) + 1;
    const xShape = [batch, L.c, L.h, L.h];
    const wShape = [L.o, L.c, L.k, L.k];
    const yShape = [batch, L.o, oh, oh];
    const p: Conv2dParams = { stride: [L.s, L.s], padding: [L.p, L.p], dilation: [1, 1], groups: 1 };
    const flop = 2 * batch * L.o * oh * oh * L.c * L.k * L.k;

    let x = upload(xShape, 1, 1);
    if (L.c > 1) x = blocked(x, xShape);
    const w = upload(wShape, 2, 1 / Math.sqrt(L.c * L.k * L.k));
    const b = upload([L.o], 3, 0.1);
    const dy = blocked(upload(yShape, 4, 0.01), yShape);
    const shape = `${L.c}x${L.h}x${L.h} -> ${L.o} k${L.k} s${L.s} p${L.p}`;
    const mine = (c: ConvAlgoChoice): boolean =>
      c.x.join() === xShape.join() && c.w.join() === wShape.join() && c.stride[0] === L.s && c.padding[0] === L.p;

    for (const mode of algos) {
      setConvAlgo(mode);
      const fwd = time(() => [k.conv2d(x, xShape, w, wShape, b, p, yShape)]);
      const bwdData = time(() => [k.conv2dBackwardData(dy, yShape, w, wShape, xShape, p)]);
      const bwdWeights = time(() => {
        const r = k.conv2dBackwardWeights(dy, yShape, x, xShape, wShape, true, p);
        return [r.dw, r.db];
      });
      const chosen = DIRS.map((d) => convAlgos().choices.find((c) => mine(c) && c.mode === mode && c.direction === d));
      // a forced Winograd that fell back to direct is not Winograd's number
      const shown: Timing[] = [fwd, bwdData, bwdWeights].map((t, i) => (mode === 'winograd' && chosen[i]?.algorithm !== 'winograd' ? null : t));
      let note = '';
      if (mode === 'auto') {
        note = chosen
          .map((c, i) => {
            if (c === undefined) return `${DIRS[i]} ?`;
            const ms = c.measured ? ` (${c.ms.direct!.toFixed(0)} / ${c.ms.winograd!.toFixed(0)})` : '';
            return `${['fwd', 'bwd-d', 'bwd-w'][i]} ${c.algorithm}${ms}`;
          })
          .join(', ');
      }
      console.log(
        `${(L.net + ' ' + L.name).padEnd(14)} ${shape.padEnd(30)} ${(flop * 1e-9).toFixed(1).padStart(7)} ${mode.padEnd(10)} ${cell(flop, shown[0]!)} ${cell(flop, shown[1]!)} ${cell(flop, shown[2]!)}  ${note}`,
      );
      const tot = totals.get(mode) ?? { flop: 0, t: [0, 0, 0], tb: [0, 0, 0], complete: true };
      tot.flop += flop;
      [fwd, bwdData, bwdWeights].forEach((t, i) => {
        tot.t[i] += t.mean;
        tot.tb[i] += t.best;
      });
      if (shown.some((t) => t === null)) tot.complete = false;
      totals.set(mode, tot);
    }
    dispose(x, w, b, dy);
  }
  console.log('-'.repeat(header.length));
  for (const [mode, tot] of totals) {
    const c = (i: number): string => cell(tot.flop, { mean: tot.t[i]!, best: tot.tb[i]! });
    console.log(
      `${'total'.padEnd(14)} ${''.padEnd(30)} ${(tot.flop * 1e-9).toFixed(1).padStart(7)} ${mode.padEnd(10)} ${c(0)} ${c(1)} ${c(2)}  ${mode === 'winograd' && !tot.complete ? '(direct where Winograd does not exist)' : ''}`,
    );
  }
  console.log('GFLOP/s from the mean time per call (from the fastest call in parentheses; the gap shows interference)');
}

main();
