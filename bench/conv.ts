/**
 * Convolution throughput of the native (oneDNN) backend at the AlexNet (1-channel, as in the
 * lecture) and VGG-11 layer shapes, through the same NativeStorage/kernel adapter the library uses.
 *
 *   node dist/bench/conv.js [--batch 128] [--layers alexnet|vgg|all] [--iters 3]
 *
 * For every layer it times forward, backward-data and backward-weights and prints GFLOP/s with
 * FLOPs = 2 * N * O * OH * OW * (C / groups) * KH * KW. Inputs are laid out as they are in a real
 * network: the first layer's input comes plain from the host, deeper layers' inputs and every dy
 * arrive in oneDNN's blocked layout (as produced by the previous conv/pool/relu).
 */
import { addon, addonError, hd, ns, type NativeAddon } from '../src/backend/native/addon.js';
import { nnKernels } from '../src/backend/native/nn.js';
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
  if (!Number.isInteger(batch) || batch < 1 || !['alexnet', 'vgg', 'all'].includes(which)) {
    console.error('usage: node dist/bench/conv.js [--batch N] [--layers alexnet|vgg|all] [--iters N]');
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
    const c = shape[1];
    const eye = new Float32Array(c * c);
    for (let i = 0; i < c; i++) eye[i * c + i] = 1;
    const w = ns(a.fromHost(eye, [c, c, 1, 1], 'float32'));
    const one: Conv2dParams = { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 };
    const y = k.conv2d(x, shape, w, [c, c, 1, 1], null, one, shape);
    dispose(w, x);
    return y;
  };
  /** Mean and best time per call (ms) after one warm-up call (primitive creation, first touch). */
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

  console.log(`convnet native conv benchmark: batch ${batch}, ${iters} timed iteration(s) after 1 warm-up`);
  const header = `${'layer'.padEnd(14)} ${'shape'.padEnd(30)} ${'GFLOP'.padStart(7)} ${'fwd'.padStart(16)} ${'bwd-data'.padStart(16)} ${'bwd-weights'.padStart(16)}`;
  console.log(header);
  console.log('-'.repeat(header.length));
  type Timing = { mean: number; best: number };
  const zero = (): Timing => ({ mean: 0, best: 0 });
  const totals = { flop: 0, fwd: zero(), bwdData: zero(), bwdWeights: zero() };
  const add = (t: Timing, u: Timing): void => {
    t.mean += u.mean;
    t.best += u.best;
  };
  /** "GFLOP/s of the mean (GFLOP/s of the best call)". */
  const cell = (flop: number, t: Timing): string =>
    `${((flop / t.mean) * 1e-6).toFixed(1).padStart(7)} (${((flop / t.best) * 1e-6).toFixed(1).padStart(6)})`;
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

    const fwd = time(() => [k.conv2d(x, xShape, w, wShape, b, p, yShape)]);
    const bwdData = time(() => [k.conv2dBackwardData(dy, yShape, w, wShape, xShape, p)]);
    const bwdWeights = time(() => {
      const r = k.conv2dBackwardWeights(dy, yShape, x, xShape, wShape, true, p);
      return [r.dw, r.db];
    });
    dispose(x, w, b, dy);

    const shape = `${L.c}x${L.h}x${L.h} -> ${L.o} k${L.k} s${L.s} p${L.p}`;
    console.log(
      `${(L.net + ' ' + L.name).padEnd(14)} ${shape.padEnd(30)} ${(flop * 1e-9).toFixed(1).padStart(7)} ${cell(flop, fwd)} ${cell(flop, bwdData)} ${cell(flop, bwdWeights)}`,
    );
    totals.flop += flop;
    add(totals.fwd, fwd);
    add(totals.bwdData, bwdData);
    add(totals.bwdWeights, bwdWeights);
  }
  console.log('-'.repeat(header.length));
  console.log(
    `${'total'.padEnd(14)} ${''.padEnd(30)} ${(totals.flop * 1e-9).toFixed(1).padStart(7)} ${cell(totals.flop, totals.fwd)} ${cell(totals.flop, totals.bwdData)} ${cell(totals.flop, totals.bwdWeights)}`,
  );
  console.log('GFLOP/s from the mean time per call (from the fastest call in parentheses; the gap shows interference)');
}

main();
