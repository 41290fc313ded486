/**
 * What data parallelism costs on this machine, through Open MPI (`mpirun -np 2`):
 *
 * 1. allreduce bandwidth of float32 buffers of 1..100 MB (the gradient buckets are ~25 MB; AlexNet's
 *    largest bucket is 105 MB): time per allreduce (best of `--repeats`), algorithm bandwidth
 *    (bytes / time) and bus bandwidth (x 2(W-1)/W, what each link carries in a ring);
 * 2. training images/s of each model (the Trainer's step on a fixed random batch, global batch
 *    `--batch-size`) as 1 process x 2 threads and as 2 processes x 1 thread, the latter with the
 *    gradient allreduce overlapped with backward and without; per step: the host copies of the
 *    gradients (to the buckets and back), the wait for allreduces after backward, the time inside MPI;
 * 3. an extrapolation to N machines: a ring allreduce moves 2(N-1)/N x the gradient bytes over each
 *    machine's link, so a step's communication is about that over the link bandwidth (`--link-gbps`),
 *    set against the step's compute at a per-machine batch of B/N.
 *
 *   node dist/bench/dist.js [--models alexnet,densenet] [--batch-size 128] [--steps 3]
 *                           [--sizes 1,4,16,25,64,100] [--repeats 5] [--link-gbps 10,100]
 *
 * Numbers from a machine shared with other work mean little: run it on a quiet machine. The script
 * starts its own mpirun runs (as root with --allow-run-as-root); `--role` is how it calls itself.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as cn from '../src/index.js';
import { createModel, modelEntry } from '../src/models/index.js';
import { DistributedDataParallel, initWorld, mpiUnavailableReason, type World } from '../src/dist/index.js';

interface Args {
  role: 'main' | 'allreduce' | 'train';
  models: string[];
  batchSize: number;
  steps: number;
  sizes: number[];
  repeats: number;
  linkGbps: number[];
  threads: number;
  overlap: boolean;
}

function usage(msg: string): never {
  console.error(
    `bench/dist: ${msg}\nusage: node dist/bench/dist.js [--models alexnet,densenet] [--batch-size N] [--steps N] ` +
      '[--sizes MB,MB,...] [--repeats N] [--link-gbps G,G,...]',
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    role: 'main',
    models: ['alexnet', 'densenet'],
    batchSize: 128,
    steps: 3,
    sizes: [1, 4, 16, 25, 64, 100],
    repeats: 5,
    linkGbps: [10, 100],
    threads: 1,
    overlap: true,
  };
  const nums = (flag: string, v: string | undefined): number[] => {
    const xs = (v ?? '').split(',').map(Number);
    if (xs.length === 0 || xs.some((x) => !(x > 0))) usage(`${flag} needs positive numbers separated by commas`);
    return xs;
  };
  const int = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) usage(`${flag} needs an integer >= 1`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    switch (f) {
      case '--role': {
        const r = argv[++i];
        if (r !== 'allreduce' && r !== 'train') usage('--role is allreduce or train');
        a.role = r;
        break;
      }
      case '--models':
        a.models = (argv[++i] ?? '').split(',').filter((s) => s !== '');
        for (const m of a.models) modelEntry(m);
        break;
      case '--batch-size': a.batchSize = int(f, argv[++i]); break;
      case '--steps': a.steps = int(f, argv[++i]); break;
      case '--sizes': a.sizes = nums(f, argv[++i]); break;
      case '--repeats': a.repeats = int(f, argv[++i]); break;
      case '--link-gbps': a.linkGbps = nums(f, argv[++i]); break;
      case '--threads': a.threads = int(f, argv[++i]); break;
      case '--no-overlap': a.overlap = false; break;
      default: usage(`unknown argument '${f}'`);
    }
  }
  return a;
}

// ---- roles run inside the world ----------------------------------------------------------------

function allreduceRole(world: World, args: Args): void {
  for (const mb of args.sizes) {
    const buf = new Float32Array(Math.round((mb * 1e6) / 4)).fill(world.rank + 1);
    world.allreduce(buf); // first touch, connection set-up
    let best = Infinity;
    for (let r = 0; r < args.repeats; r++) {
      world.barrier();
      const t0 = performance.now();
      world.allreduce(buf);
      best = Math.min(best, (performance.now() - t0) / 1000);
    }
    const slowest = world.allreduce(Float64Array.of(best), { op: 'max' })[0]!;
    const algbw = (buf.byteLength / slowest) / 1e9;
    if (world.rank === 0) {
      console.log(JSON.stringify({ mb, ms: slowest * 1e3, algbwGBs: algbw, busbwGBs: (algbw * 2 * (world.size - 1)) / world.size }));
    }
  }
}

function trainRole(world: World, args: Args): void {
  cn.setNumThreads(args.threads);
  const name = args.models[0]!;
  const e = modelEntry(name);
  if (args.batchSize % world.size !== 0) usage(`--batch-size must be divisible by ${world.size}`);
  const local = args.batchSize / world.size;
  cn.manualSeed(world.rank);
  const shape = [local, e.inChannels, e.inputSize[0], e.inputSize[1]];
  const batch = { x: cn.randn(shape).keep(), y: cn.randint(0, e.numClasses, [local]).keep() };
  const model = createModel(name);
  model.applyInit([cn.zeros([1, ...shape.slice(1)])]);
  model.train();
  const ddp = world.isDistributed ? new DistributedDataParallel(model, world, { overlap: args.overlap }) : null;
  const optimizer = model.configureOptimizers();
  const step = (): void =>
    cn.tidy(() => {
      const loss = model.trainingStep(batch);
      loss.item();
      optimizer.zeroGrad();
      loss.backward();
      ddp?.afterBackward();
      optimizer.step();
    });
  step(); // warm-up: primitive creation, first touch
  const s0 = ddp === null ? null : { ...ddp.reducer.stats };
  world.barrier();
  const t0 = performance.now();
  for (let i = 0; i < args.steps; i++) step();
  world.barrier();
  const seconds = (performance.now() - t0) / 1000;
  const per = (v: number, v0: number): number => ((v - v0) / args.steps) * 1e3;
  const st = ddp?.reducer.stats;
  if (world.rank === 0) {
    console.log(
      JSON.stringify({
        model: name,
        processes: world.size,
        threads: cn.getNumThreads(),
        overlap: ddp === null ? null : args.overlap,
        imagesPerSec: (args.steps * args.batchSize) / seconds,
        stepMs: (seconds / args.steps) * 1e3,
        gradientMB: st === undefined ? null : st.bytesPerStep / 1e6,
        copyMsPerStep: st === undefined ? null : per(st.copySeconds, s0!.copySeconds),
        waitMsPerStep: st === undefined ? null : per(st.waitSeconds, s0!.waitSeconds),
        commMsPerStep: st === undefined ? null : per(st.commSeconds, s0!.commSeconds),
      }),
    );
  }
}

// ---- the main process: runs the roles and prints the tables -----------------------------------

const self = fileURLToPath(import.meta.url);

function launch(nproc: number, roleArgs: string[]): Record<string, number | string | boolean | null>[] {
  const node = [process.execPath, self, ...roleArgs];
  const cmd = nproc === 1 ? node : ['mpirun', '-np', String(nproc), '--oversubscribe', '--bind-to', 'none', ...(process.getuid?.() === 0 ? ['--allow-run-as-root'] : []), ...node];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
  if (r.status !== 0) {
    console.error(`bench/dist: ${cmd.join(' ')} failed (${r.status ?? r.signal})`);
    process.exit(1);
  }
  return r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, number | string | boolean | null>);
}

function fmt(v: unknown, digits = 1): string {
  return typeof v === 'number' ? v.toFixed(digits) : '-';
}

function main(args: Args): void {
  const why = mpiUnavailableReason();
  if (why !== '') usage(why);
  console.log('allreduce of float32 buffers, 2 processes on this machine (best of ' + args.repeats + '):');
  console.log('|   MB |      ms | algbw GB/s | busbw GB/s |');
  console.log('|-----:|--------:|-----------:|-----------:|');
  const ar = launch(2, ['--role', 'allreduce', '--sizes', args.sizes.join(','), '--repeats', String(args.repeats)]);
  for (const r of ar) console.log(`| ${String(r.mb).padStart(4)} | ${fmt(r.ms, 2).padStart(7)} | ${fmt(r.algbwGBs, 2).padStart(10)} | ${fmt(r.busbwGBs, 2).padStart(10)} |`);
  // Bus bandwidth of the largest buffers: what 2(W-1)/W x bytes move at.
  const busbw = Math.max(...ar.filter((r) => (r.mb as number) >= 16).map((r) => r.busbwGBs as number));

  console.log(`\ntraining images/s, global batch ${args.batchSize}, ${args.steps} timed steps:`);
  console.log('| model | 1 proc x 2 thr | 2 proc x 1 thr, overlap | ratio | copy ms | wait ms | MPI ms | 2 proc x 1 thr, no overlap | ratio |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  const common = ['--role', 'train', '--batch-size', String(args.batchSize), '--steps', String(args.steps)];
  const rows: { model: string; single: Record<string, unknown>; over: Record<string, unknown> }[] = [];
  for (const model of args.models) {
    const [single] = launch(1, [...common, '--models', model, '--threads', '2']);
    const [over] = launch(2, [...common, '--models', model, '--threads', '1']);
    const [plain] = launch(2, [...common, '--models', model, '--threads', '1', '--no-overlap']);
    const ratio = (x: Record<string, unknown>) => fmt(((x.imagesPerSec as number) / (single!.imagesPerSec as number)) * 100, 0) + '%';
    console.log(
      `| ${model} | ${fmt(single!.imagesPerSec)} | ${fmt(over!.imagesPerSec)} | ${ratio(over!)} | ${fmt(over!.copyMsPerStep)} | ${fmt(over!.waitMsPerStep)} | ` +
        `${fmt(over!.commMsPerStep)} | ${fmt(plain!.imagesPerSec)} | ${ratio(plain!)} |`,
    );
    rows.push({ model, single: single!, over: over! });
  }

  console.log(`\nextrapolation to N machines (ring allreduce of the gradients over each machine's link; measured here: ${busbw.toFixed(2)} GB/s bus bandwidth on shared memory):`);
  console.log(
    '| model | gradient MB | N | compute ms/step at B/N | allreduce ms at the measured bus bandwidth | ' +
      args.linkGbps.map((g) => `allreduce ms at ${g} Gb/s`).join(' | ') +
      ' |',
  );
  console.log('|---|---:|---:|---:|---:|' + args.linkGbps.map(() => '---:').join('|') + '|');
  for (const { model, single, over } of rows) {
    const mb = over.gradientMB as number;
    // Compute per image on one machine of this kind (the 1-process run uses all its cores).
    const msPerImage = 1000 / (single.imagesPerSec as number);
    for (const n of [2, 4, 8, 16]) {
      const compute = (msPerImage * args.batchSize) / n;
      // A ring allreduce moves 2(N-1)/N x the bytes over each link.
      const ringMs = (bytesPerSecond: number): string => fmt((((2 * (n - 1)) / n) * mb * 1e6 * 1e3) / bytesPerSecond, 0);
      const comm = args.linkGbps.map((g) => ringMs((g * 1e9) / 8));
      console.log(`| ${model} | ${fmt(mb)} | ${n} | ${fmt(compute, 0)} | ${ringMs(busbw * 1e9)} | ${comm.join(' | ')} |`);
    }
  }
  console.log(
    '\nOverlap hides the allreduce behind backward only as far as backward lasts after the first bucket is ready; ' +
      'a step scales while the allreduce column stays well below the compute column (or keep B/N larger).',
  );
}

const args = parseArgs(process.argv.slice(2));
if (args.role === 'main') {
  main(args);
} else {
  const world = initWorld();
  try {
    if (args.role === 'allreduce') allreduceRole(world, args);
    else trainRole(world, args);
    world.finalize();
  } catch (e) {
    if (world.isDistributed) world.abort(e);
    throw e;
  }
}
