/**
 * A training run's folder: the names of its files, its metrics lines, and loading the trained
 * model back (`eval`, `predict`, `export` take a run folder or a checkpoint file).
 */
import type { Precision } from '../train/precision.js';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { dispose } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { modelNames, type InitScheme } from '../models/index.js';
import type { Classifier } from '../train/classifier.js';
import type { EpochRecord } from '../train/trainer.js';
import { loadCheckpoint, type CheckpointState } from '../train/checkpoint.js';
import { CliError } from './args.js';
import type { DataConfig } from './data.js';
import type { OptimizerName } from './recipe.js';
import { lookupModel } from './zoo.js';

/** File names inside a run folder. */
export const RUN_FILES = {
  metrics: 'metrics.jsonl',
  curvesSvg: 'curves.svg',
  curvesPng: 'curves.png',
  filters: 'filters.png',
  weights: 'model.safetensors',
  checkpoint: 'checkpoint.safetensors',
  confusion: 'confusion.png',
} as const;

/** What `convnet train` records in the checkpoint's `extra.run` to rebuild its data and model. */
export interface RunConfig extends DataConfig {
  /** Total epochs the run was asked for. */
  epochs: number;
  /** Learning rate. */
  lr: number;
  /** Class names by index. */
  classNames: string[];
  /** Input channels. */
  channels: number;
  /** Whether `predict` antialiases when shrinking (as the training data's resize did). */
  antialias: boolean;
  // The recipe (absent in checkpoints written before these flags: the lecture's recipe).
  /** `--optimizer`. */
  optimizer?: OptimizerName;
  /** `--momentum` (SGD). */
  momentum?: number;
  /** `--weight-decay`. */
  weightDecay?: number;
  /** `--lr-schedule`, canonical form ('none' without one). */
  lrSchedule?: string;
  /** `--label-smoothing`. */
  labelSmoothing?: number;
  /** `--init`. */
  init?: InitScheme;
  /** `--precision` as it ran (bf16-mixed falls back to fp32 where the CPU cannot run it). */
  precision?: Precision;
}

/**
 * One `metrics.jsonl` line: `{"epoch", "train_loss", "val_loss", "val_acc", "images_per_s",
 * "seconds", "lr"}` and then the `extra` fields (e.g. `world_size`); NaN, e.g. no validation data,
 * becomes null since JSON has no NaN; `lr` is the learning rate at the epoch's start.
 */
export function metricsLine(r: EpochRecord, extra: Record<string, unknown> = {}): string {
  const num = (v: number): number | null => (Number.isFinite(v) ? v : null);
  return JSON.stringify({
    epoch: r.epoch,
    train_loss: num(r.trainLoss),
    val_loss: num(r.valLoss),
    val_acc: num(r.valAcc),
    images_per_s: num(r.imagesPerSec),
    seconds: num(r.seconds),
    lr: r.lr === undefined ? null : num(r.lr),
    ...extra,
  });
}

/** The checkpoint file of a run folder, or the file itself; a one-line error when neither exists. */
export function checkpointPath(arg: string): string {
  let st;
  try {
    st = statSync(arg);
  } catch {
    throw new CliError(`${arg}: no such run folder or checkpoint file`);
  }
  if (!st.isDirectory()) return arg;
  const p = join(arg, RUN_FILES.checkpoint);
  if (!existsSync(p)) throw new CliError(`${arg}: no ${RUN_FILES.checkpoint} in this folder (is it a 'convnet train' run folder?)`);
  return p;
}

/** A trained model loaded from a checkpoint, with its run's settings. */
export interface LoadedRun {
  /** The checkpoint file read. */
  path: string;
  /** The folder holding it (where eval writes its figure). */
  dir: string;
  /** The model, in eval mode, with the checkpoint's weights. */
  model: Classifier;
  /** The checkpoint's state (model name, epoch, records...). */
  state: CheckpointState;
  /** How the run was trained (data, input size, class names). */
  config: RunConfig;
}

/** The run settings stored by `convnet train`, or a one-line error for other checkpoints. */
export function runConfigOf(state: CheckpointState, path: string): RunConfig {
  const run = state.extra?.run as RunConfig | undefined;
  if (run === undefined || typeof run !== 'object' || !Array.isArray(run.resize) || !Array.isArray(run.classNames)) {
    throw new CliError(`${path}: not a checkpoint written by 'convnet train' (no run settings in it)`);
  }
  return run;
}

/**
 * Builds the checkpoint's model (materialized on an input of the run's size) and loads its weights.
 * @example const model = buildModel(state, config, weights);
 */
export function buildModel(state: CheckpointState, config: RunConfig, weights: Record<string, Tensor>, path: string): Classifier {
  if (!modelNames.includes(state.model)) throw new CliError(`${path}: checkpoint of unknown model '${state.model}'`);
  const model = lookupModel(state.model).create(state.modelOptions as Record<string, number>);
  model.materialize([1, config.channels, config.resize[0], config.resize[1]]);
  try {
    model.loadStateDict(weights);
  } catch (e) {
    throw new CliError(`${path}: the weights do not fit model '${state.model}': ${(e as Error).message}`);
  }
  model.eval();
  return model;
}

/**
 * Loads a run folder's (or a checkpoint file's) model for `eval` / `predict` / `export`.
 * @example const { model, config } = loadRun('runs/lenet-20260101-120000');
 */
export function loadRun(arg: string): LoadedRun {
  const path = checkpointPath(arg);
  let loaded: { weights: Record<string, Tensor>; state: CheckpointState };
  try {
    loaded = loadCheckpoint(path);
  } catch (e) {
    throw new CliError(`${path}: cannot read checkpoint: ${(e as Error).message}`);
  }
  const config = runConfigOf(loaded.state, path);
  try {
    const model = buildModel(loaded.state, config, loaded.weights, path);
    return { path, dir: dirname(path), model, state: loaded.state, config };
  } finally {
    dispose([loaded.weights, loaded.state.optimizer]);
  }
}
