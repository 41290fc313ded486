/**
 * Training throughput (images/s) of the lecture's models at the lecture's settings on the native
 * backend, side by side with PyTorch when Debian's python3-torch is installed.
 *
 *   node dist/bench/train.js [--models alexnet,vgg11-slim,nin,bnlenet,densenet] [--steps 3]
 *                            [--batch-size 128] [--min-seconds 3] [--no-torch] [--profile]
 *                            [--threads 2] [--repeats 1] [--backend native|reference]
 *
 * Each step is what the Trainer does per batch (`trainStep`: forward, cross-entropy, zeroGrad,
 * backward, SGD step, all inside `tidy`) on a fixed random batch [B, 1, H, W] with random labels
 * (timed by src/models/bench.ts, shared with `convnet bench`): the data pipeline is not measured.
 * One warm-up step is excluded; fast models run at least `--min-seconds`. For each model, PyTorch
 * (bench/torch_train.py, torch.set_num_threads(2)) runs right after ours, and the table shows the
 * ratio ours / PyTorch. With `--repeats R` the two alternate R times and the best of each is kept
 * (for a machine shared with other work).
 *
 * `--profile` wraps every kernel of the backend in a timing proxy (here in the bench, not in src)
 * and prints, per model, where a step's time goes: kernel by kernel, plus the time outside kernels
 * (JavaScript: autograd, op validation, memory scopes).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as cn from '../src/index.js';
import type { Kernels } from '../src/index.js';
import { modelEntry, modelNames } from '../src/models/index.js';
import { trainStep } from '../src/train/index.js';
import { benchTraining } from '../src/models/bench.js';

const SEED_MODELS = ['alexnet', 'vgg11-slim', 'nin', 'bnlenet', 'densenet'];

interface Args {
  models: string[];
  steps: number;
  batchSize: number;
  minSeconds: number;
  torch: boolean;
  profile: boolean;
  threads: number;
  backend: cn.BackendName;
  repeats: number;
}

function usage(msg: string): never {
  console.error(
    `bench/train: ${msg}\nusage: node dist/bench/train.js [--models ${SEED_MODELS.join(',')}] [--steps N] [--batch-size N] ` +
      '[--min-seconds S] [--no-torch] [--profile] [--threads N] [--repeats N] [--backend native|reference]',
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const a: Args = { models: SEED_MODELS, steps: 3, batchSize: 128, minSeconds: 3, torch: true, profile: false, threads: 2, backend: 'native', repeats: 1 };
  const int = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min) usage(`${flag} needs an integer >= ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    switch (f) {
      case '--models':
        a.models = (argv[++i] ?? '').split(',').filter((s) => s !== '');
        if (a.models.length === 1 && a.models[0] === 'all') a.models = [...modelNames];
        for (const m of a.models) modelEntry(m); // throws listing the valid names
        break;
      case '--steps': a.steps = int(f, argv[++i], 1); break;
      case '--batch-size': a.batchSize = int(f, argv[++i], 1); break;
      case '--min-seconds': a.minSeconds = Number(argv[++i]); if (!(a.minSeconds >= 0)) usage('--min-seconds needs a number >= 0'); break;
      case '--threads': a.threads = int(f, argv[++i], 1); break;
      case '--repeats': a.repeats = int(f, argv[++i], 1); break;
      case '--no-torch': a.torch = false; break;
      case '--profile': a.profile = true; break;
      case '--backend': {
        const b = argv[++i];
        if (b !== 'native' && b !== 'reference') usage('--backend must be native or reference');
        a.backend = b;
        break;
      }
      default: usage(`unknown argument '${f}'`);
    }
  }
  return a;
}

// ---- kernel timing proxy --------------------------------------------------------------------

interface KernelStat {
  calls: number;
  ms: number;
}

/** Per-kernel wall time, collected while `profiling` is on (nested kernel calls count once, at the outermost). */
class KernelProfiler {
  stats = new Map<string, KernelStat>();
  on = false;
  private depth = 0;

  /** Replaces every method of `k` by a timed wrapper (the kernels object is the one tensors hold). */
  install(k: Kernels): void {
    const obj = k as unknown as Record<string, unknown>;
    for (const name of Object.keys(obj)) {
      const fn = obj[name];
      if (typeof fn !== 'function' || name === 'memoryInUse') continue;
      const self = this;
      obj[name] = function (this: unknown, ...args: unknown[]) {
        if (!self.on || self.depth > 0) return (fn as (...a: unknown[]) => unknown).apply(this, args);
        self.depth++;
        const t0 = performance.now();
        try {
          return (fn as (...a: unknown[]) => unknown).apply(this, args);
        } finally {
          const dt = performance.now() - t0;
          self.depth--;
          const s = self.stats.get(name) ?? { calls: 0, ms: 0 };
          s.calls++;
          s.ms += dt;
          self.stats.set(name, s);
        }
      };
    }
  }

  reset(): void {
    this.stats.clear();
  }

  kernelMs(): number {
    let t = 0;
    for (const s of this.stats.values()) t += s.ms;
    return t;
  }
}

// ---- ours -----------------------------------------------------------------------------------

interface Result {
  model: string;
  size: number;
  steps: number;
  seconds: number;
  imagesPerSec: number;
  profile?: { stepMs: number; kernels: [string, KernelStat][] };
}

function benchOurs(name: string, args: Args, profiler: KernelProfiler | null): Result {
  let profile: Result['profile'];
  const r = benchTraining({
    model: name,
    batchSize: args.batchSize,
    steps: args.steps,
    minSeconds: args.minSeconds,
    warmup: 1,
    seed: 0,
    after:
      profiler === null
        ? undefined
        : ({ model, optimizer, batch, steps }) => {
            const n = Math.max(1, Math.min(steps, 3));
            profiler.reset();
            profiler.on = true;
            const p0 = performance.now();
            for (let i = 0; i < n; i++) trainStep(model, optimizer, batch);
            const stepMs = (performance.now() - p0) / n;
            profiler.on = false;
            const kernels = [...profiler.stats.entries()]
              .map(([k, s]): [string, KernelStat] => [k, { calls: s.calls / n, ms: s.ms / n }])
              .sort((a, b) => b[1].ms - a[1].ms);
            profile = { stepMs, kernels };
          },
  });
  return { model: name, size: r.inputShape[2]!, steps: r.steps, seconds: r.seconds, imagesPerSec: r.imagesPerSec, profile };
}

// ---- PyTorch --------------------------------------------------------------------------------

function findPython(): string | null {
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
    if (r.status === 0) return py;
  }
  return null;
}

interface TorchResult {
  imagesPerSec: number;
  steps: number;
  torch: string;
  threads: number;
}

function benchTorch(py: string, script: string, name: string, args: Args): TorchResult | string {
  const r = spawnSync(
    py,
    [script, '--models', name, '--steps', String(args.steps), '--batch-size', String(args.batchSize), '--threads', String(args.threads), '--min-seconds', String(args.minSeconds)],
    { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
  );
  if (r.status !== 0) return `torch failed: ${(r.stderr ?? '').trim().split('\n').at(-1)}`;
  const line = (r.stdout ?? '').trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as TorchResult;
  } catch {
    return `torch printed no result: ${line}`;
  }
}

// ---- main -----------------------------------------------------------------------------------

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  if (args.backend === 'native' && !cn.nativeAvailable()) {
    console.error('bench/train: the native backend is unavailable (npm run build:native); use --backend reference');
    process.exit(1);
  }
  cn.setBackend(args.backend);
  const profiler = args.profile ? new KernelProfiler() : null;
  profiler?.install(cn.getBackend());

  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const script = join(root, 'bench', 'torch_train.py');
  const py = args.torch && existsSync(script) ? findPython() : null;
  const torchNote = !args.torch ? 'PyTorch: skipped (--no-torch)' : py === null ? 'PyTorch: not installed (python3 -c "import torch" failed)' : `PyTorch via ${py} (${args.threads} threads)`;
  console.log(
    `convnet training benchmark: backend ${cn.getBackend().name}, batch ${args.batchSize}, ${args.steps}+ timed steps after 1 warm-up (>= ${args.minSeconds} s); ${torchNote}`,
  );

  const rows: { r: Result; t: TorchResult | string | null }[] = [];
  for (const name of args.models) {
    // Alternate ours / PyTorch `repeats` times and keep the best of each (the machine may be shared).
    let r = null as Result | null;
    let t = null as TorchResult | string | null;
    for (let rep = 0; rep < args.repeats; rep++) {
      const ri = benchOurs(name, args, rep === args.repeats - 1 ? profiler : null);
      const prev: Result | null = r;
      if (prev === null || ri.imagesPerSec > prev.imagesPerSec) r = { ...ri, profile: ri.profile ?? prev?.profile };
      else if (ri.profile) prev.profile = ri.profile;
      if (py !== null) {
        const ti = benchTorch(py, script, name, args);
        if (t === null || typeof t === 'string' || (typeof ti !== 'string' && ti.imagesPerSec > t.imagesPerSec)) t = ti;
      }
    }
    rows.push({ r: r!, t });
    const tv: string = t === null ? '' : typeof t === 'string' ? ` | ${t}` : ` | torch ${t.imagesPerSec.toFixed(1)} img/s | ratio ${(r!.imagesPerSec / t.imagesPerSec).toFixed(2)}`;
    console.log(`  ${name}: ${r!.imagesPerSec.toFixed(1)} img/s (${r!.steps} steps, ${r!.seconds.toFixed(1)} s)${tv}`);
  }

  console.log('');
  const header = `| model | input | convnet img/s | PyTorch img/s | ratio |`;
  console.log(header);
  console.log('|---|---|---:|---:|---:|');
  for (const { r, t } of rows) {
    const tImg = t === null ? 'n/a' : typeof t === 'string' ? 'error' : t.imagesPerSec.toFixed(1);
    const ratio = t === null || typeof t === 'string' ? 'n/a' : (r.imagesPerSec / t.imagesPerSec).toFixed(2);
    console.log(`| ${r.model} | ${r.size}x${r.size} | ${r.imagesPerSec.toFixed(1)} | ${tImg} | ${ratio} |`);
  }

  if (profiler !== null) {
    for (const { r } of rows) {
      const p = r.profile!;
      const kernelMs = p.kernels.reduce((s, [, k]) => s + k.ms, 0);
      console.log(`\nprofile ${r.model} (per step: ${p.stepMs.toFixed(1)} ms; kernels ${kernelMs.toFixed(1)} ms, outside kernels ${(p.stepMs - kernelMs).toFixed(1)} ms)`);
      console.log('| kernel | calls/step | ms/step | share |');
      console.log('|---|---:|---:|---:|');
      for (const [k, s] of p.kernels) {
        if (s.ms < 0.005 * p.stepMs) continue;
        console.log(`| ${k} | ${s.calls.toFixed(0)} | ${s.ms.toFixed(1)} | ${((100 * s.ms) / p.stepMs).toFixed(1)}% |`);
      }
      console.log(`| (outside kernels) | | ${(p.stepMs - kernelMs).toFixed(1)} | ${((100 * (p.stepMs - kernelMs)) / p.stepMs).toFixed(1)}% |`);
    }
  }
}

main();
