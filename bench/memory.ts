/**
 * Training memory of the lecture's models, side by side with PyTorch: per model, what the native
 * backend held (peak live tensor bytes, peak bytes its caching allocator kept free, oneDNN
 * workspaces and scratchpad), the process's peak resident memory, the training-memory estimate of
 * `convnet summary` (made before the run, from shapes) and its error, and PyTorch 1.13's peak
 * resident memory for the same training step.
 *
 *   node dist/bench/memory.js [--models alexnet,vgg11-slim,nin,bnlenet,densenet] [--batch-size 128]
 *                             [--steps 2] [--threads 2] [--precision fp32|bf16-mixed] [--no-torch]
 *                             [--json] [--check]
 *
 * Every run is its own process, so each peak RSS (VmHWM) belongs to one model: ours is
 * `convnet bench MODEL` (lazy initialization, one warm-up step, `--steps` timed steps; it reports its
 * own VmHWM and the backend's statistics), PyTorch's is `bench/torch_train.py --models MODEL` (the
 * same step: forward, cross-entropy, zero_grad, backward, SGD step; one warm-up step) under
 * /usr/bin/python3 with Debian's python3-torch. `--precision bf16-mixed` runs both in bfloat16 mixed
 * precision (PyTorch: its CPU autocast), where the backend supports it. Peak RSS does not depend on
 * the machine's load, so these figures are valid on a shared machine (the timings are not).
 *
 * `--check` exits with 1 unless every model's peak RSS is at most PyTorch's and its estimate is within
 * 15% of the measured peak RSS.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { modelNames } from '../src/models/index.js';
import { formatBytes } from '../src/train/index.js';

const SEED_MODELS = ['alexnet', 'vgg11-slim', 'nin', 'bnlenet', 'densenet'];
const PRECISIONS = ['fp32', 'bf16-mixed'] as const;
/** Largest relative error of the estimate against the measured peak RSS that passes `--check`. */
const TOLERANCE = 0.15;

interface Args {
  models: string[];
  batchSize: number;
  steps: number;
  threads: number;
  precision: (typeof PRECISIONS)[number];
  torch: boolean;
  json: boolean;
  check: boolean;
}

function usage(msg: string): never {
  console.error(
    `bench/memory: ${msg}\nusage: node dist/bench/memory.js [--models ${SEED_MODELS.join(',')}] [--batch-size N] [--steps N] ` +
      '[--threads N] [--precision fp32|bf16-mixed] [--no-torch] [--json] [--check]',
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const a: Args = { models: SEED_MODELS, batchSize: 128, steps: 2, threads: 2, precision: 'fp32', torch: true, json: false, check: false };
  const int = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) usage(`${flag} needs a positive integer, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    if (f === '--models') {
      a.models = (argv[++i] ?? '').split(',').filter((m) => m.length > 0);
      for (const m of a.models) if (!modelNames.includes(m)) usage(`unknown model '${m}'`);
    } else if (f === '--batch-size') a.batchSize = int(f, argv[++i]);
    else if (f === '--steps') a.steps = int(f, argv[++i]);
    else if (f === '--threads') a.threads = int(f, argv[++i]);
    else if (f === '--precision') {
      const p = argv[++i];
      if (!PRECISIONS.includes(p as Args['precision'])) usage(`--precision must be ${PRECISIONS.join(' or ')}, got ${p}`);
      a.precision = p as Args['precision'];
    } else if (f === '--no-torch') a.torch = false;
    else if (f === '--json') a.json = true;
    else if (f === '--check') a.check = true;
    else usage(`unknown argument '${f}'`);
  }
  return a;
}

/** What `convnet bench` reports. */
interface OursResult {
  peak_rss_bytes: number;
  images_per_s: number;
  memory: { peak_live: number; peak_cached: number; peak_reserved: number; peak_workspace: number; scratchpad: number; estimate: number | null };
}

/** One model's row. */
interface Row {
  model: string;
  ours: OursResult | string;
  torchPeakRss: number | string | null;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The last line of a failed child's output, as the reason. */
function failure(what: string, r: ReturnType<typeof spawnSync>): string {
  const err = `${r.stderr ?? ''}`.trim().split('\n').pop() ?? '';
  return `${what} failed (exit ${r.status}${r.signal ? `, ${r.signal}` : ''}): ${err}`;
}

function runOurs(model: string, a: Args): OursResult | string {
  const cli = join(root, 'dist', 'src', 'cli', 'main.js');
  const args = [cli, 'bench', model, '--batch-size', String(a.batchSize), '--steps', String(a.steps)];
  if (a.precision !== 'fp32') args.push('--precision', a.precision);
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(a.threads) } });
  if (r.status !== 0) return failure('convnet bench', r);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as OursResult;
}

function runTorch(model: string, a: Args): number | string | null {
  const py = '/usr/bin/python3';
  const script = join(root, 'bench', 'torch_train.py');
  if (!existsSync(py) || !existsSync(script)) return null;
  const args = [script, '--models', model, '--steps', String(a.steps), '--batch-size', String(a.batchSize), '--threads', String(a.threads)];
  if (a.precision === 'bf16-mixed') args.push('--autocast', 'bf16');
  const r = spawnSync(py, args, { encoding: 'utf8' });
  if (r.status !== 0) return failure('torch_train.py', r);
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { peakRssBytes: number | null };
  return j.peakRssBytes ?? 'torch_train.py reported no peak RSS';
}

const mb = (b: number): string => (b / 1e6).toFixed(0);

function main(): void {
  const a = parseArgs(process.argv.slice(2));
  const rows: Row[] = [];
  let estimatesOk = true;
  let ranOk = true;
  if (!a.json) {
    console.log(`training memory at batch ${a.batchSize}, ${a.precision}, ${a.steps} steps after one warm-up (MB; peaks; one process per run)`);
    console.log('model        live  cached  reserved  wkspace  scratch |  peak RSS  estimate   error | PyTorch RSS  ours/PyTorch');
  }
  for (const model of a.models) {
    const ours = runOurs(model, a);
    const torch = a.torch ? runTorch(model, a) : null;
    rows.push({ model, ours, torchPeakRss: torch });
    if (typeof ours === 'string') {
      ranOk = false;
      if (!a.json) console.log(`${model.padEnd(11)} ${ours}`);
      continue;
    }
    const m = ours.memory;
    const est = m.estimate;
    const err = est === null ? NaN : (est - ours.peak_rss_bytes) / ours.peak_rss_bytes;
    if (!(Math.abs(err) <= TOLERANCE)) estimatesOk = false;
    let torchCol = '-';
    let ratio = '-';
    if (typeof torch === 'number') {
      torchCol = mb(torch);
      ratio = (ours.peak_rss_bytes / torch).toFixed(2);
    } else if (typeof torch === 'string') {
      torchCol = torch;
    }
    if (!a.json) {
      console.log(
        `${model.padEnd(11)} ${mb(m.peak_live).padStart(5)} ${mb(m.peak_cached).padStart(7)} ${mb(m.peak_reserved).padStart(9)} ${mb(m.peak_workspace).padStart(8)} ` +
          `${mb(m.scratchpad).padStart(8)} | ${mb(ours.peak_rss_bytes).padStart(9)} ${(est === null ? '-' : mb(est)).padStart(9)} ${(Number.isNaN(err) ? '-' : `${(100 * err).toFixed(1)}%`).padStart(7)} | ` +
          `${torchCol.padStart(11)}  ${ratio.padStart(12)}`,
      );
    }
  }
  const measured = rows.filter((r): r is Row & { ours: OursResult } => typeof r.ours !== 'string');
  const compared = measured.filter((r) => typeof r.torchPeakRss === 'number');
  const above = compared.filter((r) => r.ours.peak_rss_bytes > (r.torchPeakRss as number));
  if (a.json) console.log(JSON.stringify({ batchSize: a.batchSize, precision: a.precision, steps: a.steps, rows }));
  else {
    console.log(
      `peak RSS <= PyTorch's: ${compared.length === 0 ? 'not compared (no PyTorch figures)' : above.length > 0 ? `no (${above.map((r) => r.model).join(', ')})` : compared.length === measured.length ? 'every model' : `${compared.length} of ${measured.length} models compared, all below`}; ` +
        `estimate within ${100 * TOLERANCE}% of the peak RSS: ${estimatesOk ? 'every model' : 'no'}; ` +
        `largest peak RSS ${formatBytes(Math.max(0, ...measured.map((r) => r.ours.peak_rss_bytes)))}`,
    );
  }
  if (a.check && !(ranOk && estimatesOk && above.length === 0 && (a.torch ? compared.length === measured.length : true))) process.exit(1);
}

main();
