/**
 * Side-by-side accuracy of convnet and PyTorch 1.13 on the lecture's recipes (issue 13, "the book's
 * numbers"): the same model, data, batch size, learning rate, epochs and init rule on both sides,
 * over several seeds, and a table of the final validation accuracy and training loss (mean and
 * range over the seeds). Differences beyond the seed-to-seed spread are bugs to look for.
 *
 *   node dist/bench/accuracy.js                      # the full plan (many hours on 2 cores)
 *   node dist/bench/accuracy.js --plan tiny          # a check of the machinery (minutes)
 *   node dist/bench/accuracy.js --models bnlenet --epochs 3 --seeds 0,1 --limit-train 6000
 *   node dist/bench/accuracy.js --table-only --out runs/accuracy     # reprint from saved results
 *   node dist/bench/accuracy.js --models bnlenet --epochs 10 --seeds 0,1,2 --limit-train all --side convnet,convnet-bf16
 *
 * The full plan: (1) every seed model (alexnet, vgg11-slim, nin, bnlenet, densenet) at the
 * lecture's settings (batch 128, the model's lr and input size) for 2 epochs on the first 12000
 * training images; (2) bnlenet and lenet for the lecture's 10 epochs on all 60000, seeds 0, 1, 2.
 * Validation always uses the 10000 test images unless --limit-val is given. Flags make one group from
 * the first group of the plan with the flags' values (so --limit-train 12000 unless given; `all`: 60000).
 *
 * Sides (`--side`, a comma list; default convnet,torch): `convnet` (fp32), `torch` (PyTorch fp32) and
 * `convnet-bf16` (`convnet train --precision bf16-mixed`, with CONVNET_BF16=force so that on a CPU
 * without native bf16 the same bf16 numerics run through float32 kernels on bf16 data, rounded as
 * oneDNN's bf16 kernels round: slower, equally accurate).
 *
 * convnet runs through its CLI (`convnet train`, whose defaults are the lecture's recipe, init
 * included); PyTorch through bench/torch_fashion.py with /usr/bin/python3 (Debian's python3-torch),
 * `--threads` threads. Each run's result is kept in `--out` (default runs/accuracy): convnet's run
 * folders and PyTorch's JSON lines. A run whose result is already there is not repeated, so an
 * interrupted plan continues where it stopped (delete the folder to start over). Runs are
 * sequential; run it on an otherwise quiet machine if the images/s column matters.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const TORCH_SCRIPT = join(ROOT, 'bench', 'torch_fashion.py');
const PYTHON = '/usr/bin/python3';

/** One group of runs: these models, this many epochs on this many images, these seeds. */
interface Group {
  models: string[];
  epochs: number;
  limitTrain: number | null;
  limitVal: number | null;
  seeds: number[];
}

const PLANS: Record<string, Group[]> = {
  full: [
    { models: ['alexnet', 'vgg11-slim', 'nin', 'bnlenet', 'densenet'], epochs: 2, limitTrain: 12000, limitVal: null, seeds: [0] },
    { models: ['bnlenet', 'lenet'], epochs: 10, limitTrain: null, limitVal: null, seeds: [0, 1, 2] },
  ],
  tiny: [{ models: ['bnlenet', 'lenet'], epochs: 1, limitTrain: 512, limitVal: 500, seeds: [0, 1] }],
};

type Side = 'convnet' | 'torch' | 'convnet-bf16';
const SIDES: readonly Side[] = ['convnet', 'torch', 'convnet-bf16'];
const SIDE_LABEL: Record<Side, string> = { convnet: 'convnet', torch: 'PyTorch 1.13', 'convnet-bf16': 'convnet bf16-mixed' };

interface Args {
  groups: Group[];
  sides: Side[];
  out: string;
  threads: number;
  tableOnly: boolean;
  backend: string;
}

function usage(msg: string): never {
  console.error(
    `bench/accuracy: ${msg}\nusage: node dist/bench/accuracy.js [--plan full|tiny] [--models a,b] [--epochs N] [--seeds 0,1,2] ` +
      '[--limit-train N|all] [--limit-val N] [--side convnet,torch,convnet-bf16] [--out DIR] [--threads N] [--backend native|reference] [--table-only]',
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  let plan = 'full';
  const custom: Partial<Group> = {};
  let sides: Side[] = ['convnet', 'torch'];
  let out = join('runs', 'accuracy');
  let threads = 2;
  let tableOnly = false;
  let backend = 'native';
  const int = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min) usage(`${flag} needs an integer >= ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string => argv[++i] ?? usage(`${a} needs a value`);
    switch (a) {
      case '--plan': plan = v(); if (!(plan in PLANS)) usage(`--plan must be ${Object.keys(PLANS).join(' or ')}`); break;
      case '--models': custom.models = v().split(',').filter((m) => m !== ''); break;
      case '--epochs': custom.epochs = int(a, v(), 1); break;
      case '--seeds': custom.seeds = v().split(',').map((s) => int('--seeds', s, 0)); break;
      case '--limit-train': { const x = v(); custom.limitTrain = x === 'all' ? null : int(a, x, 1); break; }
      case '--limit-val': custom.limitVal = int(a, v(), 1); break;
      case '--side': {
        const list = v().split(',');
        if (list.length === 1 && list[0] === 'both') break;
        for (const x of list) if (!(SIDES as readonly string[]).includes(x)) usage(`--side takes a list of ${SIDES.join(', ')}; got '${x}'`);
        sides = list as Side[];
        break;
      }
      case '--out': out = v(); break;
      case '--threads': threads = int(a, v(), 1); break;
      case '--backend': backend = v(); break;
      case '--table-only': tableOnly = true; break;
      case '--help': case '-h': usage('help');
      default: usage(`unknown argument '${a}'`);
    }
  }
  // Flags given: one group from them, over the plan's first group's values.
  const base = PLANS[plan]!;
  const groups = Object.keys(custom).length === 0 ? base : [{ ...base[0]!, limitVal: null, ...custom }];
  return { groups, sides, out: resolve(out), threads, tableOnly, backend };
}

/** The final epoch of one run. */
interface Result {
  epochs: number;
  trainLoss: number;
  valLoss: number;
  valAcc: number;
  imagesPerSec: number;
  seconds: number;
}

function runName(side: string, model: string, g: Group, seed: number): string {
  return `${side}-${model}-e${g.epochs}-n${g.limitTrain ?? 'all'}-v${g.limitVal ?? 'all'}-s${seed}`;
}

/** Runs a command, streaming its output with a prefix; resolves to stdout. */
function run(cmd: string, args: string[], prefix: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      for (const line of d.split('\n')) if (/^epoch +\d+ \||^\{"epoch"/.test(line)) console.log(`${prefix} ${line}`);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolveRun(stdout) : reject(new Error(`${prefix} exited with ${code}: ${stderr.trim().split('\n').at(-1)}`))));
  });
}

function fromLine(line: string): Result {
  const m = JSON.parse(line) as Record<string, number>;
  return { epochs: m.epoch!, trainLoss: m.train_loss!, valLoss: m.val_loss!, valAcc: m.val_acc!, imagesPerSec: m.images_per_s!, seconds: m.seconds! };
}

/** The result of a finished run in `out`, or null. */
function saved(args: Args, side: string, model: string, g: Group, seed: number): Result | null {
  const name = runName(side, model, g, seed);
  const file = side !== 'torch' ? join(args.out, name, 'metrics.jsonl') : join(args.out, `${name}.jsonl`);
  if (!existsSync(file)) return null;
  const lines = readFileSync(file, 'utf8').trim().split('\n').filter((l) => l !== '');
  if (lines.length < g.epochs) return null;
  return fromLine(lines[g.epochs - 1]!);
}

async function runOne(args: Args, side: Side, model: string, g: Group, seed: number): Promise<Result> {
  const done = saved(args, side, model, g, seed);
  if (done !== null) return done;
  const name = runName(side, model, g, seed);
  const limits = [...(g.limitTrain !== null ? ['--limit-train', String(g.limitTrain)] : []), ...(g.limitVal !== null ? ['--limit-val', String(g.limitVal)] : [])];
  const t0 = performance.now();
  if (side !== 'torch') {
    const dir = join(args.out, name);
    // A run interrupted mid-way continues from its checkpoint.
    const resume = existsSync(join(dir, 'checkpoint.safetensors')) ? ['--resume'] : [];
    const extra = resume.length > 0 ? [] : [...limits, '--seed', String(seed), ...(side === 'convnet-bf16' ? ['--precision', 'bf16-mixed'] : [])];
    const env = side === 'convnet-bf16' ? { ...process.env, CONVNET_BF16: 'force' } : process.env;
    await run(process.execPath, [CLI, 'train', model, '--epochs', String(g.epochs), ...extra, '--out', dir, '--backend', args.backend, ...resume], `[${name}]`, env);
  } else {
    const out = await run(PYTHON, [TORCH_SCRIPT, '--model', model, '--epochs', String(g.epochs), '--seed', String(seed), '--threads', String(args.threads), ...limits], `[${name}]`);
    writeFileSync(join(args.out, `${name}.jsonl`), out);
  }
  console.log(`[${name}] done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  const r = saved(args, side, model, g, seed);
  if (r === null) throw new Error(`${name}: no result after the run`);
  return r;
}

function summary(values: number[], digits: number): string {
  if (values.length === 0) return '–';
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  if (values.length === 1) return mean.toFixed(digits);
  return `${mean.toFixed(digits)} (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})`;
}

/** The markdown table: one row per group, model and side. */
function table(args: Args, results: Map<string, Result>): string {
  const rows = ['| model | epochs | training images | side | seeds | val acc, mean (range) | train loss, mean (range) | val loss, mean | images/s |', '|---|---:|---:|---|---:|---:|---:|---:|---:|'];
  for (const g of args.groups) {
    for (const model of g.models) {
      for (const side of args.sides) {
        const rs = g.seeds.map((s) => results.get(runName(side, model, g, s))).filter((r): r is Result => r !== undefined);
        if (rs.length === 0) continue;
        rows.push(
          `| ${model} | ${g.epochs} | ${g.limitTrain ?? 60000} | ${SIDE_LABEL[side]} | ${rs.length} | ` +
            `${summary(rs.map((r) => r.valAcc), 3)} | ${summary(rs.map((r) => r.trainLoss), 3)} | ${summary([rs.reduce((a, r) => a + r.valLoss, 0) / rs.length], 3)} | ` +
            `${summary([rs.reduce((a, r) => a + r.imagesPerSec, 0) / rs.length], 0)} |`,
        );
      }
    }
  }
  return rows.join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  mkdirSync(args.out, { recursive: true });
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build:ts first`);
  if (args.sides.includes('torch') && !existsSync(PYTHON)) throw new Error(`${PYTHON} is missing (PyTorch runs need Debian's python3-torch)`);
  const results = new Map<string, Result>();
  for (const g of args.groups) {
    for (const model of g.models) {
      for (const seed of g.seeds) {
        for (const side of args.sides) {
          const r = args.tableOnly ? saved(args, side, model, g, seed) : await runOne(args, side, model, g, seed);
          if (r !== null) results.set(runName(side, model, g, seed), r);
        }
      }
    }
  }
  const text = table(args, results);
  console.log(`\n${text}`);
  writeFileSync(join(args.out, 'table.md'), `${text}\n`);
  console.log(`\n(results in ${args.out}; the table also in ${join(args.out, 'table.md')})`);
}

main().catch((e: unknown) => {
  console.error(`bench/accuracy: ${(e as Error).message}`);
  process.exit(1);
});
