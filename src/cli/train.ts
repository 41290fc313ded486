/**
 * `convnet train <model>`: trains a zoo model with the lecture's settings (10 epochs, batch 128,
 * the model's learning rate and input size; Fashion-MNIST resized to that size; minibatch SGD; the
 * lecture's weight init) and keeps everything in a run folder, updated after every epoch:
 * `metrics.jsonl`, `curves.svg/png`, `filters.png`, `model.safetensors` and a resumable checkpoint
 * (written atomically, and never after a NaN/Inf loss). Recipe flags (optimizer, schedule, weight
 * decay, momentum, label smoothing, init, augmentation) are recorded in the checkpoint. `--resume`
 * continues a run from its checkpoint with the same weights, optimizer and schedule state, epoch,
 * generator states, recipe and data order.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { writeBytesAtomic } from '../io/atomic.js';
import { join, resolve } from 'node:path';
import { defaultGenerator, manualSeed } from '../tensor/random.js';
import { dispose } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { Conv2d } from '../nn/layers/conv.js';
import type { Classifier } from '../train/classifier.js';
import { NonFiniteLossError, Trainer, formatEpoch, type EpochRecord } from '../train/trainer.js';
import { loadCheckpoint, saveCheckpointAsync, type CheckpointState } from '../train/checkpoint.js';
import type { Optimizer } from '../optim/optimizer.js';
import { initCnn } from '../nn/init-cnn.js';
import { INIT_SCHEMES, type InitScheme } from '../models/index.js';
import { saveSafetensorsAsync } from '../io/safetensors.js';
import { curvesSvg } from '../viz/curves.js';
import { svgToPng } from '../viz/png.js';
import { saveFiltersPng } from '../viz/filters.js';
import { getBackend, getNumThreads, setNumThreads } from '../backend/index.js';
import { detectLaunch, defaultThreads } from '../dist/env.js';
import { mpiUnavailableReason } from '../dist/mpi.js';
import { World, WorldStartError, initWorld } from '../dist/world.js';
import { DistributedDataParallel } from '../dist/ddp.js';
import { convertSyncBatchNorm } from '../dist/sync-batch-norm.js';
import { fingerprint } from '../dist/fingerprint.js';
import { mpirunCommand, runMpirun } from '../dist/launch.js';
import { Dashboard } from '../viz/dashboard.js';
import {
  CliError,
  UsageError,
  boolFlag,
  choiceFlag,
  intFlag,
  parseIntList,
  positiveFlag,
  stringFlag,
  type ParsedArgs,
} from './args.js';
import {
  AUGMENT_HELP,
  LR_SCHEDULE_HELP,
  OPTIMIZER_NAMES,
  buildOptimizer,
  buildScheduler,
  defaultWeightDecay,
  formatSchedule,
  parseAugment,
  parseSchedule,
  scheduleSpansRun,
  type OptimizerName,
} from './recipe.js';
import { batchSizeOption, type Command } from './command.js';
import { FASHION_MNIST, loadData, resolveDataArg, type CliData } from './data.js';
import { ProgressBar } from './progress.js';
import { RUN_FILES, metricsLine, runConfigOf, type RunConfig } from './run-dir.js';
import { lookupModel } from './zoo.js';
import { PRECISIONS, resolvePrecision, type Precision } from '../train/precision.js';
import { checkModelMemory } from '../models/memory.js';

/** The lecture's defaults that do not depend on the model. */
const DEFAULT_EPOCHS = 10;
const DEFAULT_BATCH_SIZE = 128;

/** Settings given on the command line (undefined: not given). */
interface GivenFlags {
  data?: string;
  epochs?: number;
  lr?: number;
  batchSize?: number;
  resize?: [number, number];
  limitTrain?: number;
  limitVal?: number;
  seed?: number;
  out?: string;
  resume: boolean;
  dashboard: boolean;
  port?: number;
  nproc?: number;
  threads?: number;
  syncBn: boolean;
  optimizer?: OptimizerName;
  momentum?: number;
  weightDecay?: number;
  lrSchedule?: string;
  labelSmoothing?: number;
  init?: InitScheme;
  augment?: string;
  precision?: Precision;
}

/** The value of `--name` as a finite number in [min, max) (max exclusive when `open`), or undefined. */
function rangeFlag(args: ParsedArgs, name: string, min: number, max: number, open: boolean): number | undefined {
  const v = stringFlag(args, name);
  if (v === undefined) return undefined;
  const n = v.trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(n) || n < min || (open ? n >= max : n > max)) {
    throw new UsageError(`--${name} must be a number in [${min}, ${max}${open ? ')' : ']'}, got '${v}'`);
  }
  return n;
}

function readFlags(args: ParsedArgs): GivenFlags {
  const resizeArg = stringFlag(args, 'resize');
  let resize: [number, number] | undefined;
  if (resizeArg !== undefined) {
    const r = parseIntList('--resize', resizeArg, [1, 2], 'H or H,W');
    resize = [r[0]!, r[1] ?? r[0]!];
  }
  const dataArg = stringFlag(args, 'data');
  const port = intFlag(args, 'port', 0);
  if (port !== undefined && port > 65535) throw new UsageError(`--port must be an integer in 0..65535, got '${port}'`);
  const dashboard = boolFlag(args, 'dashboard');
  if (port !== undefined && !dashboard) throw new UsageError('--port only applies with --dashboard');
  const out = stringFlag(args, 'out');
  if (out === '') throw new UsageError('--out needs a folder');
  const lrSchedule = stringFlag(args, 'lr-schedule');
  const augment = stringFlag(args, 'augment');
  return {
    optimizer: choiceFlag(args, 'optimizer', OPTIMIZER_NAMES),
    momentum: rangeFlag(args, 'momentum', 0, 1, true),
    weightDecay: rangeFlag(args, 'weight-decay', 0, Infinity, true),
    // Parsed here (and put in canonical form) so that a bad value fails before any loading.
    lrSchedule: lrSchedule === undefined ? undefined : formatSchedule(parseSchedule(lrSchedule)),
    labelSmoothing: rangeFlag(args, 'label-smoothing', 0, 1, true),
    init: choiceFlag(args, 'init', INIT_SCHEMES),
    augment: augment === undefined ? undefined : parseAugment(augment, [28, 28]).spec,
    precision: choiceFlag(args, 'precision', PRECISIONS),
    data: dataArg === undefined ? undefined : resolveDataArg(dataArg),
    epochs: intFlag(args, 'epochs', 1),
    lr: positiveFlag(args, 'lr'),
    batchSize: intFlag(args, 'batch-size', 1),
    resize,
    limitTrain: intFlag(args, 'limit-train', 1),
    limitVal: intFlag(args, 'limit-val', 1),
    seed: intFlag(args, 'seed', 0),
    out,
    resume: boolFlag(args, 'resume'),
    dashboard,
    port,
    nproc: intFlag(args, 'nproc', 1),
    threads: intFlag(args, 'threads', 1),
    syncBn: boolFlag(args, 'sync-bn'),
  };
}

/** `runs/<model>-YYYYMMDD-HHMMSS` in local time. */
function defaultRunDir(model: string): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return join('runs', `${model}-${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`);
}

/** A resumed run keeps its data settings: a flag that contradicts them is an error. */
function checkSame(flag: string, given: unknown, saved: unknown): void {
  if (given === undefined) return;
  if (JSON.stringify(given) !== JSON.stringify(saved)) {
    throw new UsageError(`${flag} ${JSON.stringify(given)} differs from the resumed run's ${JSON.stringify(saved)}; a resumed run keeps its data settings`);
  }
}

/** The first convolution's weight (the lecture's filter figure), or null for a model without one. */
function firstConvWeight(model: Classifier): Tensor | null {
  for (const m of model.modules()) if (m instanceof Conv2d && m.weight.isMaterialized) return m.weight;
  return null;
}

/** The recipe of a run written before the recipe flags existed: the lecture's. */
function recipeDefaults(config: RunConfig, model: string): RunConfig {
  return {
    ...config,
    optimizer: config.optimizer ?? 'sgd',
    momentum: config.momentum ?? 0,
    weightDecay: config.weightDecay ?? 0,
    lrSchedule: config.lrSchedule ?? 'none',
    labelSmoothing: config.labelSmoothing ?? 0,
    init: config.init ?? lookupModel(model).init,
    augment: config.augment ?? 'none',
    precision: config.precision ?? 'fp32',
  };
}

/** What a resumed run continues from. */
interface ResumePoint {
  weights: Record<string, Tensor>;
  state: CheckpointState;
  config: RunConfig;
}

function readResumePoint(model: string, dir: string): ResumePoint {
  const path = join(dir, RUN_FILES.checkpoint);
  if (!existsSync(path)) throw new CliError(`--resume: no ${RUN_FILES.checkpoint} in ${dir} (nothing to resume)`);
  let loaded: { weights: Record<string, Tensor>; state: CheckpointState };
  try {
    loaded = loadCheckpoint(path);
  } catch (e) {
    throw new CliError(`${path}: cannot read checkpoint: ${(e as Error).message}`);
  }
  if (loaded.state.model !== model) {
    dispose([loaded.weights, loaded.state.optimizer]);
    throw new CliError(`${path} is a checkpoint of model '${loaded.state.model}', not '${model}'`);
  }
  return { ...loaded, config: runConfigOf(loaded.state, path) };
}

/** The run's settings: the flags over the lecture's defaults, or (resuming) the saved ones. */
function runSettings(name: string, given: GivenFlags, resume: ResumePoint | null, drawnSeed: number): RunConfig {
  const entry = lookupModel(name);
  if (resume !== null) {
    const saved = recipeDefaults(resume.config, name);
    checkSame('--data', given.data, saved.data);
    checkSame('--batch-size', given.batchSize, saved.batchSize);
    checkSame('--resize', given.resize, saved.resize);
    checkSame('--limit-train', given.limitTrain, saved.limitTrain);
    checkSame('--limit-val', given.limitVal, saved.limitVal);
    checkSame('--seed', given.seed, saved.seed);
    // The recipe is part of the run: a resumed run continues it exactly.
    const recipeMsg = 'a resumed run keeps its recipe';
    for (const [flag, g, v] of [
      ['--optimizer', given.optimizer, saved.optimizer],
      ['--momentum', given.momentum, saved.momentum],
      ['--weight-decay', given.weightDecay, saved.weightDecay],
      ['--lr-schedule', given.lrSchedule, saved.lrSchedule],
      ['--label-smoothing', given.labelSmoothing, saved.labelSmoothing],
      ['--init', given.init, saved.init],
      ['--augment', given.augment, saved.augment],
      ['--precision', given.precision, saved.precision],
    ] as const) {
      if (g !== undefined && JSON.stringify(g) !== JSON.stringify(v)) {
        throw new UsageError(`${flag} ${JSON.stringify(g)} differs from the resumed run's ${JSON.stringify(v)}; ${recipeMsg}`);
      }
    }
    const schedule = parseSchedule(saved.lrSchedule!);
    if (given.epochs !== undefined && given.epochs !== saved.epochs && scheduleSpansRun(schedule)) {
      throw new UsageError(`--epochs ${given.epochs} differs from the resumed run's ${saved.epochs}, over which its --lr-schedule ${saved.lrSchedule} runs; such a run keeps its epochs`);
    }
    if (given.lr !== undefined && (saved.lrSchedule !== 'none' || saved.optimizer !== 'sgd')) {
      throw new UsageError(`--lr cannot change a resumed run with --optimizer ${saved.optimizer} --lr-schedule ${saved.lrSchedule} (only plain SGD runs without a schedule take a new --lr)`);
    }
    return { ...saved, epochs: given.epochs ?? saved.epochs, lr: given.lr ?? saved.lr };
  }
  const optimizer = given.optimizer ?? 'sgd';
  if (given.momentum !== undefined && given.momentum !== 0 && optimizer !== 'sgd') {
    throw new UsageError(`--momentum applies to --optimizer sgd (${optimizer} uses PyTorch's betas 0.9, 0.999)`);
  }
  return {
    optimizer,
    momentum: given.momentum ?? 0,
    weightDecay: given.weightDecay ?? defaultWeightDecay(optimizer),
    lrSchedule: given.lrSchedule ?? 'none',
    labelSmoothing: given.labelSmoothing ?? 0,
    init: given.init ?? entry.init,
    augment: given.augment ?? 'none',
    precision: given.precision ?? 'fp32',
    data: given.data ?? FASHION_MNIST,
    batchSize: given.batchSize ?? DEFAULT_BATCH_SIZE,
    resize: given.resize ?? [entry.inputSize[0], entry.inputSize[1]],
    // A fresh run draws its seed, and records it, so that it can be repeated with --seed.
    seed: given.seed ?? drawnSeed,
    limitTrain: given.limitTrain ?? null,
    limitVal: given.limitVal ?? null,
    epochs: given.epochs ?? DEFAULT_EPOCHS,
    lr: given.lr ?? entry.lr,
    classNames: [],
    channels: entry.inChannels,
    antialias: false,
  };
}

/** Everything written after an epoch (the checkpoint first: it is what a resume needs). */
async function saveEpoch(
  dir: string,
  name: string,
  model: Classifier,
  data: CliData,
  config: RunConfig,
  records: EpochRecord[],
  optimizer: Optimizer<{ lr: number }>,
  scheduler: { stateDict(): Record<string, unknown> } | null,
  worldSizes: number[],
): Promise<void> {
  const state: CheckpointState = {
    model: name,
    modelOptions: modelOptionsOf(config),
    epoch: records.at(-1)!.epoch,
    records,
    optimizer: optimizer.stateDict(),
    generator: defaultGenerator.getState(),
    dataGenerator: data.generator.getState(),
    scheduler: scheduler?.stateDict() ?? null,
    extra: { run: config, worldSizes },
  };
  await saveCheckpointAsync(join(dir, RUN_FILES.checkpoint), model, state);
  await saveSafetensorsAsync(join(dir, RUN_FILES.weights), model.stateDict(), {
    format: 'pt',
    model: name,
    modelOptions: JSON.stringify(state.modelOptions),
    inputShape: JSON.stringify([config.channels, ...config.resize]),
    classNames: JSON.stringify(config.classNames),
  });
  writeBytesAtomic(join(dir, RUN_FILES.metrics), records.map((r, i) => `${metricsLine(r, { world_size: worldSizes[i] ?? 1 })}\n`).join(''));
  const svg = curvesSvg(records, { title: `${name} on ${config.data === FASHION_MNIST ? 'Fashion-MNIST' : config.data}`, maxEpochs: config.epochs });
  writeBytesAtomic(join(dir, RUN_FILES.curvesSvg), svg);
  await svgToPng(svg, join(dir, RUN_FILES.curvesPng));
  const w = firstConvWeight(model);
  if (w !== null) await saveFiltersPng(w, join(dir, RUN_FILES.filters));
}

/** Everything a rank prepared before the world agrees to start. */
interface Prepared {
  dir: string;
  resume: ResumePoint | null;
  config: RunConfig;
  /** Epochs already trained (resuming). */
  done: number;
  data: CliData | null;
  model: Classifier | null;
  optimizer: Optimizer<{ lr: number }> | null;
  /** The learning-rate schedule and when it steps, or null. */
  schedule: ReturnType<typeof buildScheduler>;
  /** What every rank must have in common (see `World.checkSame`). */
  entries: Record<string, unknown>;
}

/**
 * The set-up of one rank: run folder, resume point, settings, data, model and optimizer. In a
 * data-parallel run every rank does it by itself (the run folder must be visible to all of them for
 * --resume); only rank 0 creates the folder.
 */
async function prepare(world: World, name: string, given: GivenFlags, drawn: { seed: number; dir: string }): Promise<Prepared> {
  const dir = resolve(given.out ?? drawn.dir);
  if (world.rank === 0 && !given.resume && existsSync(join(dir, RUN_FILES.checkpoint))) {
    throw new CliError(`${dir} already holds a run (${RUN_FILES.checkpoint}); add --resume to continue it, or choose another --out`);
  }
  const resume = given.resume ? readResumePoint(name, dir) : null;
  const config = runSettings(name, given, resume, drawn.seed);
  // The precision as it will run (and be recorded): bf16-mixed needs a CPU with native bf16.
  const precision = resolvePrecision(config.precision ?? 'fp32', getBackend());
  if (precision.notice !== null && world.rank === 0) console.error(`convnet: ${precision.notice}`);
  config.precision = precision.precision;
  const done = resume?.state.epoch ?? 0;
  // Flat, so that a difference reads "lr 0.2 vs 0.1".
  const entries: Record<string, unknown> = { model: name, ...config, resumedAfterEpoch: done, syncBn: given.syncBn, backend: getBackend().name };
  if (resume !== null) {
    entries.checkpoint = fingerprint(JSON.stringify([resume.state.generator, resume.state.dataGenerator, resume.state.records]));
  }
  if (done >= config.epochs) return { dir, resume, config, done, data: null, model: null, optimizer: null, schedule: null, entries };

  const data = await loadData(config);
  config.classNames = [...data.classNames];
  config.channels = data.inputShape[0];
  config.antialias = data.decode.antialias;
  // Before the model exists: a batch that cannot fit in memory stops here, in one line with the
  // largest batch that fits (each process of a data-parallel run trains its share of the batch).
  // The estimate models the CPU backends; a GPU's memory is the device's, not checked here.
  if (getBackend().name !== 'webgpu') {
    checkModelMemory(name, {
      batchSize: Math.ceil(config.batchSize / world.size),
      imageShape: [config.channels, ...config.resize],
    });
  }
  entries.data = fingerprint(
    data.train.labels(),
    data.val.labels(),
    data.inputShape.join('x'),
    data.train.inMemory && !data.train.isRandom && data.train.length > 0 ? data.train.get(data.train.length - 1).x : 'files',
  );

  // Seeded before the model exists, so the initial weights are part of what --seed fixes.
  manualSeed(config.seed);
  const model = lookupModel(name).create(modelOptionsOf(config));
  const inputShape = [1, config.channels, config.resize[0], config.resize[1]];
  try {
    // The lecture's recipe: d2l's apply_init on a first training batch, in training mode, then
    // Xavier (VGG, NiN, the LeNets); or no init pass at all, PyTorch's default init (AlexNet,
    // DenseNet). A resumed run only needs the shapes: its weights come from the checkpoint.
    if (resume === null && config.init === 'xavier') {
      const batch = data.firstTrainBatch();
      try {
        model.applyInit([batch.x], initCnn);
      } finally {
        dispose([batch.x, batch.y]);
      }
    } else {
      model.materialize(inputShape);
    }
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`${name} cannot take ${config.channels}x${config.resize.join('x')} images (see --resize): ${(e as Error).message}`);
  }
  if (given.syncBn) {
    try {
      if (convertSyncBatchNorm(model, world) === 0 && world.rank === 0) console.log(`--sync-bn: ${name} has no batch norm layer; nothing to synchronize`);
    } catch (e) {
      throw new CliError(`--sync-bn: ${(e as Error).message}`);
    }
  }
  // Sharded only now: d2l's apply_init above ran on the first GLOBAL batch on every rank, as in one
  // process (same weights and batch-norm statistics everywhere).
  if (world.isDistributed) data.shard(world.rank, world.size);
  entries.parameters = model.parameters().map((p) => p.shape.join('x')).join(',');
  const optimizer = buildOptimizer({ optimizer: config.optimizer!, momentum: config.momentum!, weightDecay: config.weightDecay! }, model.parameters(), config.lr);
  const schedule = buildScheduler(parseSchedule(config.lrSchedule!), optimizer, config.epochs, data.trainLoader().length, config.lr);
  if (resume !== null) {
    try {
      model.loadStateDict(resume.weights);
      optimizer.loadStateDict(resume.state.optimizer);
      if (schedule !== null) {
        const saved = resume.state.scheduler;
        if (saved === null || saved === undefined) throw new Error('it has no learning-rate schedule state');
        schedule.scheduler.loadStateDict(saved);
      }
    } catch (e) {
      throw new CliError(`${join(dir, RUN_FILES.checkpoint)}: does not fit model '${name}' with this recipe: ${(e as Error).message}`);
    }
    if (given.lr !== undefined) optimizer.lr = given.lr;
    if (resume.state.dataGenerator !== null) data.generator.setState(resume.state.dataGenerator);
  }
  return { dir, resume, config, done, data, model, optimizer, schedule, entries };
}

/** `convnet train --nproc N`: the same command as N processes under mpirun. */
async function relaunch(args: ParsedArgs, nproc: number): Promise<number> {
  if (detectLaunch().size > 1) throw new UsageError('--nproc starts its own processes: leave it out when running under mpirun or srun');
  const why = mpiUnavailableReason();
  if (why !== '') throw new CliError(`--nproc ${nproc}: ${why}`);
  // This file's sibling main.js (main.ts when running from the TypeScript sources).
  const main = fileURLToPath(new URL(`./main${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));
  const flags = Object.entries(args.flags)
    .filter(([k]) => k !== 'nproc')
    .flatMap(([k, v]) => (v === true ? [`--${k}`] : [`--${k}`, v]));
  return runMpirun(mpirunCommand({ nproc, command: [process.execPath, ...process.execArgv, main, 'train', ...args.positionals, ...flags] }));
}

/** The world this process trains in (a world of one without a launcher), as a one-line error when it cannot start. */
function startWorld(): World {
  try {
    return initWorld();
  } catch (e) {
    throw new CliError(`cannot join the MPI world: ${(e as Error).message}`);
  }
}

async function train(args: ParsedArgs): Promise<number> {
  const name = args.positionals[0]!;
  lookupModel(name);
  const given = readFlags(args);
  if (given.resume && given.out === undefined) throw new UsageError('--resume needs --out DIR, the run folder to continue');
  if (given.nproc !== undefined && given.nproc > 1) return relaunch(args, given.nproc);

  const world = startWorld();
  // Each process gets its share of the cores (mpirun, srun); --threads overrides.
  const threads = given.threads ?? (world.isDistributed ? defaultThreads(world.localSize) : undefined);
  if (threads !== undefined) setNumThreads(threads);
  try {
    // Chosen once for every rank: a random seed, the time-stamped folder name.
    const drawn = world.broadcastJson({ seed: Math.floor(Math.random() * 2 ** 31), dir: defaultRunDir(name) });
    const code = await trainIn(world, name, given, drawn);
    world.finalize();
    return code;
  } catch (e) {
    if (e instanceof WorldStartError) {
      // Every rank stops; one of them says why.
      world.finalize();
      if (e.report !== null) console.error(`convnet: ${e.report}`);
      return e.exitCode;
    }
    // One line naming this rank and the cause; MPI_Abort brings the other ranks down.
    if (world.isDistributed) {
      if (args.flags.verbose === true && e instanceof Error && e.stack !== undefined) console.error(e.stack);
      world.abort(e, e instanceof CliError ? e.exitCode : 1);
    }
    throw e;
  }
}

async function trainIn(world: World, name: string, given: GivenFlags, drawn: { seed: number; dir: string }): Promise<number> {
  let prepared: Prepared | null = null;
  let failure: unknown = null;
  try {
    prepared = await prepare(world, name, given, drawn);
  } catch (e) {
    failure = e;
  }
  // A rank that could not start stops every rank (one line); then ranks started differently are refused.
  world.startTogether(failure);
  const { dir, resume, config, done, data, model, optimizer, schedule, entries } = prepared!;
  const lead = world.rank === 0;
  try {
    world.checkSame(entries);
    if (data === null || model === null || optimizer === null) {
      if (lead) console.log(`${dir}: already trained ${done} of ${config.epochs} epochs; nothing to do (raise --epochs to continue)`);
      return 0;
    }
    if (lead) mkdirSync(dir, { recursive: true });
    // Rank 0's weights everywhere, and gradient averaging after every backward.
    const ddp = world.isDistributed ? new DistributedDataParallel(model, world) : null;

    const progress = new ProgressBar(process.stdout);
    let dashboard: Dashboard | null = null;
    if (given.dashboard && lead) {
      dashboard = new Dashboard({ port: given.port, host: '127.0.0.1', title: `convnet train ${name}`, maxEpochs: config.epochs });
      console.log(`dashboard: ${await dashboard.start()}`);
    }
    const records: EpochRecord[] = [...(resume?.state.records ?? [])];
    // The world size of every epoch (runs resumed at another size mix them); older checkpoints: 1.
    const savedSizes = resume?.state.extra.worldSizes;
    const worldSizes = records.map((_, i) => (Array.isArray(savedSizes) && typeof savedSizes[i] === 'number' ? (savedSizes[i] as number) : 1));
    const trainer = new Trainer({ maxEpochs: config.epochs, dataParallel: ddp ?? undefined, plotTrainPerEpoch: PLOT_TRAIN_PER_EPOCH, precision: config.precision });
    let lastDashboard = 0;
    if (lead) {
      trainer.on('batch', (e) => {
        const label = `epoch ${e.epoch}/${config.epochs}`;
        progress.update(label, e);
        // Twice a second is plenty for a page, and keeps the copying of records off most batches.
        if (dashboard !== null && e.elapsed - lastDashboard >= 0.5) {
          lastDashboard = e.elapsed;
          dashboard.update(records, {
            epoch: e.epoch,
            batch: e.batch,
            numBatches: e.numBatches,
            loss: e.loss,
            imagesPerSec: e.imagesPerSec,
            curve: e.curve,
            lr: e.lr,
          });
        }
      });
      trainer.on('epoch', (e) => progress.finish(formatEpoch(e.record)));
    }

    const procs = world.isDistributed ? `, ${world.size} processes x ${getNumThreads()} threads${given.syncBn ? ', sync-bn' : ''}` : '';
    const recipe = [
      config.optimizer === 'sgd' ? (config.momentum ? `SGD momentum ${config.momentum}` : 'SGD') : config.optimizer === 'adam' ? 'Adam' : 'AdamW',
      config.weightDecay ? `weight decay ${config.weightDecay}` : '',
      config.lrSchedule !== 'none' ? `schedule ${config.lrSchedule}` : '',
      config.labelSmoothing ? `label smoothing ${config.labelSmoothing}` : '',
      `${config.init} init`,
      config.precision === 'bf16-mixed' ? 'bf16-mixed' : '',
      config.augment !== 'none' ? `augment ${config.augment}` : '',
    ]
      .filter((t) => t !== '')
      .join(', ');
    const setup = `${name}: ${data.train.length} training / ${data.val.length} validation images of ${data.inputShape.join('x')} from ${config.data}, batch ${config.batchSize}, lr ${optimizer.lr}, ${recipe}, seed ${config.seed}${procs}`;
    if (lead) console.log(resume === null ? `${setup}; run folder ${dir}` : `${setup}; resuming ${dir} after epoch ${done}`);
    try {
      await trainer.fit(model, data, {
        optimizer,
        scheduler: schedule?.scheduler,
        schedulerInterval: schedule?.interval,
        startEpoch: done,
        records,
        generatorState: resume?.state.generator,
        onEpochEnd: async (record) => {
          ddp?.checkInSync();
          lastDashboard = 0;
          records.push(record);
          worldSizes.push(world.size);
          if (!lead) return;
          await saveEpoch(dir, name, model, data, config, records, optimizer, schedule?.scheduler ?? null, worldSizes);
          dashboard?.update(records);
        },
      });
    } catch (e) {
      progress.abort();
      if (e instanceof NonFiniteLossError) {
        const kept = records.length > 0 ? `the checkpoint of epoch ${records.at(-1)!.epoch} in ${dir} is kept` : 'no checkpoint was written';
        throw new CliError(`training stopped: the loss became ${e.loss} at epoch ${e.epoch}, batch ${e.batch} (lr ${e.lr}); ${kept} (try a smaller --lr)`);
      }
      throw e;
    } finally {
      await dashboard?.close();
    }
    if (lead) console.log(`done: ${config.epochs} epochs; ${dir} holds ${Object.values(RUN_FILES).filter((f) => existsSync(join(dir, f))).join(', ')}`);
    return 0;
  } finally {
    // The loaded tensors were copied into the model and the optimizer.
    if (resume !== null) dispose([resume.weights, resume.state.optimizer]);
  }
}

/** Points of the within-epoch training-loss curve per epoch in curves.svg/png and the dashboard. */
const PLOT_TRAIN_PER_EPOCH = 10;

/** The zoo options a run's model is built with (also what eval / predict rebuild it with). */
function modelOptionsOf(config: RunConfig): Record<string, number> {
  return {
    lr: config.lr,
    numClasses: config.classNames.length,
    inChannels: config.channels,
    ...(config.labelSmoothing ? { labelSmoothing: config.labelSmoothing } : {}),
  };
}

/** The `train` command. */
export const trainCommand: Command = {
  name: 'train',
  summary: 'train a model (Fashion-MNIST or an image folder), with curves, filters and checkpoints',
  description: `Trains a zoo model (see convnet models) with minibatch SGD, the lecture's recipe: ${DEFAULT_EPOCHS} epochs, batch ${DEFAULT_BATCH_SIZE}, the model's learning rate, Fashion-MNIST resized to the model's input size, and the lecture's weight init. After every epoch the run folder gets:
  metrics.jsonl           one JSON line per epoch: epoch, train_loss, val_loss,
                          val_acc, images_per_s, seconds, lr, world_size
  curves.svg, curves.png  training loss within epochs (${PLOT_TRAIN_PER_EPOCH} points each),
                          validation loss and accuracy (d2l's ProgressBoard)
  filters.png             the learned first-layer convolution filters
  model.safetensors       the weights (PyTorch names)
  checkpoint.safetensors  weights + optimizer + schedule + epoch + generators
                          + recipe, for --resume`,
  arguments: [{ name: '<model>', help: 'a zoo model (see convnet models)' }],
  options: [
    { name: 'data', value: 'fashion-mnist|DIR', help: 'the data: Fashion-MNIST (default), or a folder with one sub-folder per class (80/20 train/validation split by --seed)' },
    { name: 'epochs', value: 'N', help: `total epochs (default ${DEFAULT_EPOCHS}; with --resume: the new total)` },
    { name: 'lr', value: 'X', help: "learning rate (default: the model's, see convnet models)" },
    batchSizeOption(String(DEFAULT_BATCH_SIZE)),
    { name: 'resize', value: 'H[,W]', help: "image size fed to the model (default: the model's input size)" },
    { name: 'limit-train', value: 'N', help: 'train on the first N training images only (quick runs)' },
    { name: 'limit-val', value: 'N', help: 'validate on the first N validation images only' },
    { name: 'seed', value: 'N', help: 'seed of the initial weights, shuffles and split (default: random, recorded)' },
    { name: 'out', value: 'DIR', help: 'run folder (default runs/<model>-<date>-<time>)' },
    { name: 'resume', help: 'continue the run in --out DIR from its checkpoint (same weights, optimizer state, epoch, generator states and data order)' },
    { name: 'dashboard', help: 'serve a live page of the curves on 127.0.0.1' },
    { name: 'port', value: 'P', help: "the dashboard's port (default: a free one)" },
    { name: 'optimizer', choices: OPTIMIZER_NAMES, help: "the optimizer (default sgd, the lecture's); PyTorch's update rules; recorded in the checkpoint" },
    { name: 'momentum', value: 'X', help: 'SGD momentum in [0, 1) (default 0)' },
    { name: 'weight-decay', value: 'X', help: 'weight decay (default 0; AdamW: 0.01); L2 for sgd/adam, decoupled for adamw' },
    { name: 'lr-schedule', value: 'SPEC', help: `learning-rate schedule with PyTorch's trajectories: ${LR_SCHEDULE_HELP}` },
    { name: 'label-smoothing', value: 'X', help: 'label smoothing of the cross-entropy in [0, 1) (default 0)' },
    { name: 'init', choices: INIT_SCHEMES, help: "initial weights: 'xavier' runs d2l's apply_init(init_cnn) on a first training batch; 'default' keeps PyTorch's default init (default: what the lecture does for the model: alexnet, densenet* default; the others xavier)" },
    { name: 'augment', value: 'SPEC', help: `training-image augmentation: ${AUGMENT_HELP}` },
    { name: 'precision', choices: PRECISIONS, help: "fp32 (default) or bf16-mixed: PyTorch's CPU autocast to bfloat16 (conv, linear, matmul in bf16; batch-norm statistics, softmax, losses in fp32; fp32 weights and optimizer state); fp32 with a notice where the CPU cannot run bf16 natively (no AVX-512 BF16 / AMX); recorded and resumed" },
    { name: 'nproc', value: 'N', help: 'start N data-parallel processes on this machine through mpirun; --batch-size stays the global batch (each process trains on batch-size / N); mpirun -np N convnet train ... and srun convnet train ... work too (see the README)' },
    { name: 'threads', value: 'N', help: 'threads per process (default: the cores / processes on the machine)' },
    { name: 'sync-bn', help: 'batch norm uses the statistics of the global batch (SyncBatchNorm); without it each process normalizes with its own part, as PyTorch DDP' },
  ],
  run: train,
};
