/**
 * Speed of the native addon's hand-written loops (elementwise maps, broadcasts, activation
 * backwards, axpy, fill, reductions, cast, softmax) at an in-cache, a mid and a memory-bound size.
 * Written to check that building the addon for any x86-64 (no -mavx2/-mfma; hot loops
 * multiversioned with target_clones) keeps their speed: `--addon a.node,b.node` times several
 * builds of the addon, each in its own child process (two copies of the addon cannot share a
 * process: their template statics are process-wide), alternating builds for `--rounds` rounds so
 * that a loaded machine affects them alike.
 *
 *   node dist/bench/elementwise.js [--addon path[,path...]] [--rounds 2] [--reps 30] [--sizes 4096,262144,8388608]
 *
 * Prints microseconds per call (best of `reps` calls over all rounds, after a warm-up call) per
 * kernel and size.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { addon as defaultAddon, addonError, type NativeAddon } from '../src/backend/native/addon.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : dflt;
}

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
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

type Case = [name: string, run: (a: NativeAddon, x: unknown, y: unknown, shape: number[]) => unknown];

const CASES: Case[] = [
  ['unary neg', (a, x) => a.unary('neg', x)],
  ['unary relu', (a, x) => a.unary('relu', x)],
  ['unary sqrt', (a, x) => a.unary('sqrt', x)],
  ['unary rsqrt', (a, x) => a.unary('rsqrt', x)],
  ['unary sign', (a, x) => a.unary('sign', x)],
  ['unary exp', (a, x) => a.unary('exp', x)],
  ['unary sigmoid', (a, x) => a.unary('sigmoid', x)],
  ['binary add', (a, x, y, s) => a.binary('add', x, s, y, s, s)],
  ['binary div', (a, x, y, s) => a.binary('div', x, s, y, s, s)],
  ['binary maximum', (a, x, y, s) => a.binary('maximum', x, s, y, s, s)],
  ['binary mul bcast row', (a, x, y, s) => a.binary('mul', x, s, y, [1, s[1]!], s)],
  ['scalar mul', (a, x) => a.scalar('mul', x, 0.5, false)],
  ['scalar pow 2', (a, x) => a.scalar('pow', x, 2, false)],
  ['clamp', (a, x) => a.clamp(x, -0.5, 0.5)],
  ['reluBackward', (a, x, y) => a.reluBackward(y, x)],
  ['sigmoidBackward', (a, x, y) => a.activationBackward(y, x, false)],
  ['tanhBackward', (a, x, y) => a.activationBackward(y, x, true)],
  ['axpy', (a, x, y) => a.axpy(x, y, -0.1)],
  ['full', (a, _x, _y, s) => a.full(s, 'float32', 0.25)],
  ['reduce sum rows', (a, x, _y, s) => a.reduce('sum', x, s, [1])],
  ['reduce max cols', (a, x, _y, s) => a.reduce('max', x, s, [0])],
  ['cast f32->s32', (a, x) => a.cast(x, 'int32')],
  ['softmax rows', (a, x, _y, s) => a.softmax(x, s, 1, false)],
];

/** Times every case on one addon; returns best microseconds per "case@n". */
function timeAddon(a: NativeAddon, reps: number, sizes: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of sizes) {
    const cols = 64;
    const shape = [n / cols, cols];
    const x = a.fromHost(values(n, 1), shape, 'float32');
    const y = a.fromHost(values(n, 2), shape, 'float32');
    for (const [name, run] of CASES) {
      let best = Infinity;
      for (let r = 0; r <= reps; r++) {
        const t0 = process.hrtime.bigint();
        const o = run(a, x, y, shape);
        const us = Number(process.hrtime.bigint() - t0) / 1000;
        a.dispose(o);
        if (r > 0) best = Math.min(best, us);
      }
      out[`${name}@${n}`] = best;
    }
    a.dispose(x);
    a.dispose(y);
  }
  return out;
}

function main(): void {
  const reps = Math.max(1, Number(arg('reps', '30')));
  const sizes = arg('sizes', '4096,262144,8388608').split(',').map(Number);
  const one = arg('one', '');
  if (one !== '') {
    // child: one addon, JSON out
    const a = createRequire(import.meta.url)(one) as NativeAddon;
    process.stdout.write(JSON.stringify(timeAddon(a, reps, sizes)));
    return;
  }
  const paths = arg('addon', '');
  const rounds = Math.max(1, Number(arg('rounds', '2')));
  let cols: [string, Record<string, number>][];
  if (paths === '') {
    if (defaultAddon === null) {
      console.error(`bench/elementwise: ${addonError}`);
      process.exit(1);
    }
    cols = [['built', timeAddon(defaultAddon, reps, sizes)]];
  } else {
    const list = paths.split(',');
    cols = list.map((p) => [p.split('/').at(-1)!, {}]);
    const self = fileURLToPath(import.meta.url);
    for (let r = 0; r < rounds; r++) {
      list.forEach((p, j) => {
        const res = spawnSync(process.execPath, [self, '--one', p, '--reps', String(reps), '--sizes', sizes.join(',')], { encoding: 'utf8' });
        if (res.status !== 0) throw new Error(`bench/elementwise: ${p} failed:\n${res.stderr}`);
        const got = JSON.parse(res.stdout) as Record<string, number>;
        const acc = cols[j]![1];
        for (const [k, v] of Object.entries(got)) acc[k] = Math.min(acc[k] ?? Infinity, v);
      });
    }
  }
  console.log(`native loop benchmark: microseconds per call, best of ${reps} calls x ${paths === '' ? 1 : rounds} round(s)`);
  const head = `${'kernel'.padEnd(22)} ${'n'.padStart(8)} ${cols.map(([n]) => n.padStart(26)).join(' ')}`;
  console.log(head);
  console.log('-'.repeat(head.length));
  for (const n of sizes) {
    for (const [name] of CASES) {
      const key = `${name}@${n}`;
      console.log(`${name.padEnd(22)} ${String(n).padStart(8)} ${cols.map(([, c]) => c[key]!.toFixed(1).padStart(26)).join(' ')}`);
    }
  }
}

main();
