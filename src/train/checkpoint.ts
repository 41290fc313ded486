/**
 * Resumable training checkpoints: everything needed to continue a run exactly where it stopped,
 * in ONE safetensors file (written atomically, so a crash never leaves a broken checkpoint):
 *
 * - the model's `stateDict()` under its PyTorch names (`net.0.weight`, `net.1.running_mean`,
 *   `net.1.num_batches_tracked` as I64, ...): the file is also a plain weights file that PyTorch can
 *   read (`load_state_dict(..., strict=False)` ignores the optimizer entries);
 * - the optimizer's per-parameter state tensors under `__optim__.<paramIndex>.<key>` (paramIndex
 *   counts the parameters over all groups, PyTorch's `optimizer.state_dict()` numbering; key is e.g.
 *   `momentum_buffer`, `exp_avg`);
 * - in `__metadata__`: `format` = `convnet-checkpoint`, `format_version` = `1`, and `state` = the
 *   `CheckpointState` as JSON, where each optimizer state tensor is replaced by
 *   `{"$tensor": "<name in the file>"}` and non-finite numbers (a generator's missing spare normal,
 *   the NaN validation loss of an epoch without validation) by `{"$number": "NaN" | "Infinity" |
 *   "-Infinity" | "-0"}`, which plain JSON cannot hold.
 */
// The tensors this module hands out have their methods whoever imported what first (see ops/method.ts).
import '../ops/index.js';
import { saveSafetensors, saveSafetensorsAsync, loadSafetensors } from '../io/safetensors.js';
import type { Module } from '../nn/module.js';
import { Parameter } from '../nn/parameter.js';
import type { OptimizerStateDict, ParamState } from '../optim/optimizer.js';
import { Tensor } from '../tensor/tensor.js';
import type { EpochRecord } from './trainer.js';

/** The `format` metadata value that marks a convnet training checkpoint. */
export const CHECKPOINT_FORMAT = 'convnet-checkpoint';
const FORMAT_VERSION = '1';
/** Prefix of the optimizer state tensors' names in the file. */
const OPTIM_PREFIX = '__optim__.';

/** Everything besides the model weights that a resumed run needs. */
export interface CheckpointState {
  /** Zoo name of the model (`createModel(model, modelOptions)` rebuilds it). */
  model: string;
  /** Options the model was created with (JSON values). */
  modelOptions: Record<string, unknown>;
  /** Epochs completed. */
  epoch: number;
  /** The completed epochs' records. */
  records: EpochRecord[];
  /** The optimizer's `stateDict()` (its tensors go into the file as tensors). */
  optimizer: OptimizerStateDict;
  /** `defaultGenerator.getState()` (dropout, and shuffles drawn from the default generator). */
  generator: number[];
  /** The training loader's shuffle generator state, or null when the data has none. */
  dataGenerator: number[] | null;
  /** The learning-rate schedule's `stateDict()` (JSON values), or null / absent without one. */
  scheduler?: Record<string, unknown> | null;
  /** Anything else the caller wants back (CLI arguments, ...), as JSON values. */
  extra: Record<string, unknown>;
}

/** JSON.stringify replacer: numbers JSON cannot represent become `{"$number": ...}`. */
function encodeNumbers(_key: string, v: unknown): unknown {
  if (typeof v !== 'number') return v;
  if (Number.isNaN(v)) return { $number: 'NaN' };
  if (v === Infinity) return { $number: 'Infinity' };
  if (v === -Infinity) return { $number: '-Infinity' };
  if (Object.is(v, -0)) return { $number: '-0' };
  return v;
}

/** JSON.parse reviver undoing `encodeNumbers`. */
function decodeNumbers(_key: string, v: unknown): unknown {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const keys = Object.keys(v);
    const s = (v as { $number?: unknown }).$number;
    if (keys.length === 1 && typeof s === 'string') {
      const table: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 };
      if (s in table) return table[s];
    }
  }
  return v;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isGeneratorState(v: unknown): v is number[] {
  return Array.isArray(v) && v.length === 5 && v.every((x) => typeof x === 'number');
}

/**
 * Saves `model`'s weights and the training `state` to `path` as one safetensors file, atomically
 * (the previous checkpoint at `path` survives any failure). See the file comment for the layout.
 * @example
 * saveCheckpoint('run.ckpt.safetensors', model, {
 *   model: 'lenet', modelOptions: {}, epoch: 2, records, optimizer: opt.stateDict(),
 *   generator: cn.defaultGenerator.getState(), dataGenerator: data.generator.getState(), extra: {},
 * });
 */
export function saveCheckpoint(path: string, model: Module, state: CheckpointState): void {
  const { tensors, metadata } = checkpointContents(path, model, state);
  saveSafetensors(path, tensors, metadata);
}

/**
 * `saveCheckpoint` for every backend: the tensors are read back asynchronously (GPU backends), then
 * the file is written the same way.
 * @example await saveCheckpointAsync(path, model, state);
 */
export async function saveCheckpointAsync(path: string, model: Module, state: CheckpointState): Promise<void> {
  const { tensors, metadata } = checkpointContents(path, model, state);
  await saveSafetensorsAsync(path, tensors, metadata);
}

/** The tensors and metadata of a checkpoint file, validated. */
function checkpointContents(path: string, model: Module, state: CheckpointState): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const where = `saveCheckpoint: ${path}`;
  if (typeof state.model !== 'string' || state.model === '') throw new Error(`${where}: state.model must be the model's zoo name`);
  if (!Number.isInteger(state.epoch) || state.epoch < 0) throw new Error(`${where}: state.epoch must be a non-negative integer, got ${state.epoch}`);
  if (!isGeneratorState(state.generator)) throw new Error(`${where}: state.generator must be a generator state (5 numbers from getState())`);
  if (state.dataGenerator !== null && !isGeneratorState(state.dataGenerator)) {
    throw new Error(`${where}: state.dataGenerator must be a generator state (5 numbers) or null`);
  }
  if (state.scheduler !== undefined && state.scheduler !== null && !isPlainObject(state.scheduler)) {
    throw new Error(`${where}: state.scheduler must be a scheduler's stateDict() or null`);
  }
  const optim = state.optimizer;
  if (!isPlainObject(optim) || !Array.isArray(optim.paramGroups) || !isPlainObject(optim.state)) {
    throw new Error(`${where}: state.optimizer must be an optimizer stateDict() ({ state, paramGroups })`);
  }

  const tensors: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(model.stateDict())) {
    if (name.startsWith(OPTIM_PREFIX)) throw new Error(`${where}: model state '${name}' collides with the optimizer prefix '${OPTIM_PREFIX}'`);
    if (t instanceof Parameter && !t.isMaterialized) {
      throw new Error(`${where}: parameter '${name}' is not materialized yet (run one forward pass before saving)`);
    }
    tensors[name] = t;
  }
  // The optimizer state with its tensors replaced by references to their names in the file.
  const optimState: Record<string, Record<string, unknown>> = {};
  for (const [id, ps] of Object.entries(optim.state)) {
    if (!/^\d+$/.test(id)) throw new Error(`${where}: optimizer state key '${id}' is not a parameter index`);
    const entry: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(ps as ParamState)) {
      if (v instanceof Tensor) {
        const name = `${OPTIM_PREFIX}${id}.${key}`;
        tensors[name] = v;
        entry[key] = { $tensor: name };
      } else if (typeof v === 'number') {
        entry[key] = v;
      } else {
        throw new Error(`${where}: optimizer state '${key}' of parameter ${id} is neither a tensor nor a number`);
      }
    }
    optimState[id] = entry;
  }
  let json: string;
  try {
    json = JSON.stringify({ ...state, optimizer: { state: optimState, paramGroups: optim.paramGroups } }, encodeNumbers);
  } catch (e) {
    throw new Error(`${where}: the state cannot be stored as JSON (${(e as Error).message})`);
  }
  return { tensors, metadata: { format: CHECKPOINT_FORMAT, format_version: FORMAT_VERSION, state: json } };
}

/**
 * Reads a checkpoint written by `saveCheckpoint`: the model weights (for `model.loadStateDict`) and
 * the state, whose `optimizer` holds tensors again (for `optimizer.loadStateDict`). The file is
 * validated (a safetensors file with convnet checkpoint metadata, every field of the state, every
 * optimizer tensor present); errors name the file.
 * @example
 * const { weights, state } = loadCheckpoint(path);
 * model.loadStateDict(weights); opt.loadStateDict(state.optimizer);
 */
export function loadCheckpoint(path: string): { weights: Record<string, Tensor>; state: CheckpointState } {
  const where = `loadCheckpoint: ${path}`;
  const { tensors, metadata } = loadSafetensors(path);
  if (metadata.format !== CHECKPOINT_FORMAT) {
    throw new Error(`${where}: not a convnet training checkpoint (metadata 'format' is ${JSON.stringify(metadata.format ?? null)}); plain weights load with loadSafetensors`);
  }
  if (metadata.format_version !== FORMAT_VERSION) {
    throw new Error(`${where}: checkpoint format version ${JSON.stringify(metadata.format_version ?? null)} is not supported (this convnet reads version ${FORMAT_VERSION})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(metadata.state ?? '', decodeNumbers);
  } catch (e) {
    throw new Error(`${where}: metadata 'state' is not valid JSON (${(e as Error).message})`);
  }
  const bad = (msg: string): never => {
    throw new Error(`${where}: ${msg}`);
  };
  if (!isPlainObject(raw)) return bad(`metadata 'state' must be a JSON object`);
  const s = raw;
  if (typeof s.model !== 'string' || s.model === '') bad(`state.model must be a non-empty string`);
  if (!isPlainObject(s.modelOptions)) bad(`state.modelOptions must be an object`);
  if (!Number.isInteger(s.epoch) || (s.epoch as number) < 0) bad(`state.epoch must be a non-negative integer, got ${JSON.stringify(s.epoch)}`);
  if (!Array.isArray(s.records) || !s.records.every((r) => isPlainObject(r) && Number.isInteger(r.epoch))) {
    bad(`state.records must be an array of epoch records`);
  }
  if (!isGeneratorState(s.generator)) bad(`state.generator must be a generator state (5 numbers)`);
  if (s.dataGenerator !== null && !isGeneratorState(s.dataGenerator)) bad(`state.dataGenerator must be a generator state (5 numbers) or null`);
  if (!isPlainObject(s.extra)) bad(`state.extra must be an object`);
  if (s.scheduler !== undefined && s.scheduler !== null && !isPlainObject(s.scheduler)) bad(`state.scheduler must be an object (a scheduler's stateDict()) or null`);
  const o = s.optimizer;
  if (!isPlainObject(o) || !isPlainObject(o.state) || !Array.isArray(o.paramGroups)) bad(`state.optimizer must be { state, paramGroups }`);
  const optim = o as { state: Record<string, unknown>; paramGroups: unknown[] };
  optim.paramGroups.forEach((g, i) => {
    if (!isPlainObject(g) || !Array.isArray(g.params) || !g.params.every((p) => Number.isInteger(p) && p >= 0)) {
      bad(`state.optimizer.paramGroups[${i}] must be an object with integer 'params'`);
    }
  });

  // Put the optimizer tensors back in place of their references.
  const used = new Set<string>();
  const optimState: Record<number, ParamState> = {};
  for (const [id, entry] of Object.entries(optim.state)) {
    if (!/^\d+$/.test(id) || !isPlainObject(entry)) bad(`state.optimizer.state['${id}'] must be an object keyed by a parameter index`);
    const ps: ParamState = {};
    for (const [key, v] of Object.entries(entry as Record<string, unknown>)) {
      if (typeof v === 'number') {
        ps[key] = v;
      } else if (isPlainObject(v) && typeof v.$tensor === 'string' && v.$tensor.startsWith(OPTIM_PREFIX)) {
        const t = tensors[v.$tensor];
        if (t === undefined) bad(`optimizer tensor '${v.$tensor}' (state '${key}' of parameter ${id}) is missing from the file`);
        used.add(v.$tensor);
        ps[key] = t!;
      } else {
        bad(`state.optimizer.state['${id}'].${key} must be a number or a tensor reference`);
      }
    }
    optimState[Number(id)] = ps;
  }
  const weights: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (!name.startsWith(OPTIM_PREFIX)) weights[name] = t;
    else if (!used.has(name)) bad(`tensor '${name}' is not referenced by the optimizer state`);
  }
  const state: CheckpointState = {
    model: s.model as string,
    modelOptions: s.modelOptions as Record<string, unknown>,
    epoch: s.epoch as number,
    records: s.records as EpochRecord[],
    optimizer: { state: optimState, paramGroups: optim.paramGroups as OptimizerStateDict['paramGroups'] },
    generator: s.generator as number[],
    dataGenerator: s.dataGenerator as number[] | null,
    scheduler: (s.scheduler as Record<string, unknown> | null | undefined) ?? null,
    extra: s.extra as Record<string, unknown>,
  };
  return { weights, state };
}
