/**
 * Training throughput (images/s) of the lecture's models at the lecture's settings on the native
 * backend, side by side with PyTorch when Debian's python3-torch is installed: PyTorch fp32 and
 * PyTorch's own bf16 mixed precision (`torch.autocast('cpu', dtype=torch.bfloat16)`) as peers.
 *
 *   node dist/bench/train.js [--models alexnet,vgg11-slim,nin,bnlenet,densenet] [--steps 3]
 *                            [--batch-size 128] [--min-seconds 3] [--repeats 3] [--threads 2]
 *                            [--no-torch] [--no-torch-bf16] [--profile] [--backend native|reference|webgpu]
 *
 * Each step is what the Trainer does per batch (`trainStep`: forward, cross-entropy, zeroGrad,
 * backward, SGD step, all inside `tidy`) on a fixed random batch [B, 1, H, W] with random labels
 * (timed by src/models/bench.ts, shared with `convnet bench`): the data pipeline is not measured.
 * One warm-up step is excluded; fast models run at least `--min-seconds`.
 *
 * Honest comparison on a machine that may be shared: for each model, ours, PyTorch fp32 and
 * PyTorch bf16-autocast run one after the other, and that round is repeated `--repeats` times
 * (interleaved, so a burst of load hits all of them). Every figure is the median of the R runs with
 * the min-max beside it; a ratio is the median of the R per-round ratios (ours / PyTorch of the same
 * round) with their min-max. PyTorch (bench/torch_train.py --serve, torch.set_num_threads(2)) runs
 * in one python process for the whole benchmark, so torch's import is not timed or repeated.
 *
 * `--profile` wraps every kernel of the backend in a timing proxy (here in the bench, not in src)
 * and prints, per model, where a step's time goes: kernel by kernel, plus the time outside kernels
 * (JavaScript: autograd, op validation, memory scopes).
 *
 * `--backend webgpu` runs on WebGPU (Dawn's Node binding; `--profile` is not available there: the
 * kernels only encode GPU work, which the device runs later). Steps are timed until the device has
 * finished them (the last loss is read back). On machines without a GPU the adapter is SwiftShader,
 * a software rasterizer: its figures say nothing about GPUs.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as cn from '../src/index.js';
import type { Kernels } from '../src/index.js';
import { modelEntry, modelNames } from '../src/models/index.js';
import { trainStep } from '../src/train/index.js';
import { benchTraining, benchTrainingAsync } from '../src/models/bench.js';
import { webgpuKernels } from '../src/backend/webgpu/index.js';

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
  torchBf16: boolean;
}

function usage(msg: string): never {
  console.error(
    `bench/train: ${msg}\nusage: node dist/bench/train.js [--models ${SEED_MODELS.join(',')}] [--steps N] [--batch-size N] ` +
      '[--min-seconds S] [--repeats N] [--threads N] [--no-torch] [--no-torch-bf16] [--profile] [--backend native|reference|webgpu]',
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const a: Args = { models: SEED_MODELS, steps: 3, batchSize: 128, minSeconds: 3, torch: true, profile: false, threads: 2, backend: 'native', repeats: 3, torchBf16: true };
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
      case '--no-torch-bf16': a.torchBf16 = false; break;
      case '--profile': a.profile = true; break;
      case '--backend': {
        const b = argv[++i];
        if (b !== 'native' && b !== 'reference' && b !== 'webgpu') usage('--backend must be native, reference or webgpu');
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

async function benchOurs(name: string, args: Args, profiler: KernelProfiler | null): Promise<Result> {
  let profile: Result['profile'];
  if (args.backend === 'webgpu') {
    const g = await benchTrainingAsync({ model: name, batchSize: args.batchSize, steps: args.steps, minSeconds: args.minSeconds, warmup: 1, seed: 0 });
    return { model: name, size: g.inputShape[2]!, steps: g.steps, seconds: g.seconds, imagesPerSec: g.imagesPerSec };
  }
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

/** A PyTorch process answering benchmark requests (bench/torch_train.py --serve). */
class TorchWorker {
  private readonly child: ChildProcessWithoutNullStreams;
  private buffer = '';
  private stderr = '';
  private waiting: ((line: string | null) => void) | null = null;
  private lines: string[] = [];
  private exited = false;

  constructor(py: string, script: string, threads: number) {
    this.child = spawn(py, [script, '--serve', '--threads', String(threads)], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (d: string) => {
      this.buffer += d;
      let i: number;
      while ((i = this.buffer.indexOf('\n')) >= 0) {
        this.lines.push(this.buffer.slice(0, i));
        this.buffer = this.buffer.slice(i + 1);
      }
      this.flush();
    });
    this.child.stderr.on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-4000);
    });
    this.child.on('exit', () => {
      this.exited = true;
      this.flush();
    });
  }

  private flush(): void {
    if (this.waiting === null) return;
    if (this.lines.length > 0) {
      const w = this.waiting;
      this.waiting = null;
      w(this.lines.shift()!);
    } else if (this.exited) {
      const w = this.waiting;
      this.waiting = null;
      w(null);
    }
  }

  /** One benchmark; the result, or a one-line reason why there is none. */
  async run(model: string, args: Args, autocast: 'bf16' | null): Promise<TorchResult | string> {
    if (this.exited) return `torch failed: ${this.stderr.trim().split('\n').at(-1) ?? 'the python process exited'}`;
    const req = { model, steps: args.steps, batchSize: args.batchSize, minSeconds: args.minSeconds, autocast };
    const line = await new Promise<string | null>((resolve) => {
      this.waiting = resolve;
      this.child.stdin.write(`${JSON.stringify(req)}\n`);
      this.flush();
    });
    if (line === null) return `torch failed: ${this.stderr.trim().split('\n').at(-1) ?? 'the python process exited'}`;
    try {
      const r = JSON.parse(line) as TorchResult & { error?: string };
      return r.error !== undefined ? `torch failed: ${r.error}` : r;
    } catch {
      return `torch printed no result: ${line}`;
    }
  }

  close(): void {
    this.child.stdin.end();
  }
}

// ---- statistics -------------------------------------------------------------------------------

/** Median and range of some numbers. */
interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

function spread(xs: number[]): Spread | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { median: mid, min: s[0]!, max: s.at(-1)!, n: s.length };
}

/** "40.3 (39.1-41.0)", or "n/a". */
function fmtSpread(x: Spread | null, digits = 1): string {
  if (x === null) return 'n/a';
  return x.n === 1 ? x.median.toFixed(digits) : `${x.median.toFixed(digits)} (${x.min.toFixed(digits)}-${x.max.toFixed(digits)})`;
}

/** Per-round ratios ours / theirs (rounds where both ran). */
function ratios(ours: Result[], theirs: (TorchResult | string)[]): number[] {
  const out: number[] = [];
  ours.forEach((r, i) => {
    const t = theirs[i];
    if (t !== undefined && typeof t !== 'string') out.push(r.imagesPerSec / t.imagesPerSec);
  });
  return out;
}

// ---- main -----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.backend === 'native' && !cn.nativeAvailable()) {
    console.error('bench/train: the native backend is unavailable (npm run build:native); use --backend reference');
    process.exit(1);
  }
  if (args.profile && args.backend === 'webgpu') usage('--profile times kernels on the host; on webgpu they only encode GPU work (use the GPU vendor\'s profiler)');
  try {
    await cn.useBackend(args.backend);
  } catch (e) {
    console.error(`bench/train: --backend ${args.backend}: ${(e as Error).message}`);
    process.exit(1);
  }
  const gpu = webgpuKernels();
  if (args.backend === 'webgpu' && gpu !== null) {
    console.log(`WebGPU adapter: ${gpu.info.adapter}${gpu.info.software ? ' (a SOFTWARE rasterizer: these figures say nothing about a GPU)' : ''}`);
  }
  const profiler = args.profile ? new KernelProfiler() : null;
  profiler?.install(cn.getBackend());

  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const script = join(root, 'bench', 'torch_train.py');
  const py = args.torch && existsSync(script) ? findPython() : null;
  const torchNote = !args.torch
    ? 'PyTorch: skipped (--no-torch)'
    : py === null
      ? 'PyTorch: not installed (python3 -c "import torch" failed)'
      : `PyTorch via ${py} (${args.threads} threads; fp32${args.torchBf16 ? " and bf16 autocast: torch.autocast('cpu', dtype=torch.bfloat16)" : ''})`;
  console.log(
    `convnet training benchmark: backend ${cn.getBackend().name}, batch ${args.batchSize}, ${args.steps}+ timed steps after 1 warm-up (>= ${args.minSeconds} s), ${args.repeats} interleaved round(s) per model; ${torchNote}`,
  );
  const worker = py === null ? null : new TorchWorker(py, script, args.threads);

  interface Row {
    model: string;
    size: number;
    ours: Result[];
    fp32: (TorchResult | string)[];
    bf16: (TorchResult | string)[];
  }
  const rows: Row[] = [];
  try {
    for (const name of args.models) {
      const row: Row = { model: name, size: 0, ours: [], fp32: [], bf16: [] };
      for (let rep = 0; rep < args.repeats; rep++) {
        const r = await benchOurs(name, args, rep === args.repeats - 1 ? profiler : null);
        row.size = r.size;
        row.ours.push(r);
        let line = `  ${name} round ${rep + 1}/${args.repeats}: convnet ${r.imagesPerSec.toFixed(1)} img/s (${r.steps} steps, ${r.seconds.toFixed(1)} s)`;
        if (worker !== null) {
          const t = await worker.run(name, args, null);
          row.fp32.push(t);
          line += typeof t === 'string' ? ` | ${t}` : ` | torch fp32 ${t.imagesPerSec.toFixed(1)}`;
          if (args.torchBf16) {
            const b = await worker.run(name, args, 'bf16');
            row.bf16.push(b);
            line += typeof b === 'string' ? ` | bf16: ${b}` : ` | torch bf16 autocast ${b.imagesPerSec.toFixed(1)}`;
          }
        }
        console.log(line);
      }
      rows.push(row);
    }
  } finally {
    worker?.close();
  }

  console.log('');
  console.log(`median (min-max) over ${args.repeats} round(s); a ratio is the median (min-max) of the per-round ratios convnet / PyTorch`);
  const ok = (ts: (TorchResult | string)[]): number[] => ts.filter((t): t is TorchResult => typeof t !== 'string').map((t) => t.imagesPerSec);
  const bf = worker !== null && args.torchBf16;
  console.log(`| model | input | convnet img/s | PyTorch fp32 img/s | ratio |${bf ? ' PyTorch bf16 autocast img/s | ratio vs bf16 |' : ''}`);
  console.log(`|---|---|---:|---:|---:|${bf ? '---:|---:|' : ''}`);
  for (const r of rows) {
    const ours = fmtSpread(spread(r.ours.map((x) => x.imagesPerSec)));
    const fp32 = fmtSpread(spread(ok(r.fp32)));
    const ratio = fmtSpread(spread(ratios(r.ours, r.fp32)), 2);
    const extra = bf ? ` ${fmtSpread(spread(ok(r.bf16)))} | ${fmtSpread(spread(ratios(r.ours, r.bf16)), 2)} |` : '';
    console.log(`| ${r.model} | ${r.size}x${r.size} | ${ours} | ${fp32} | ${ratio} |${extra}`);
  }

  if (profiler !== null) {
    for (const row of rows) {
      const r = row.ours.at(-1)!;
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

main().catch((e: unknown) => {
  console.error(`bench/train: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});
