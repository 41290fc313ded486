/**
 * Training memory of a zoo model by name: the estimate (see src/train/memory.ts) of `createModel(name)`
 * at a batch size, and the check `convnet train` / `convnet bench` run before anything is allocated.
 */
import type { BackendName } from '../backend/index.js';
import { checkTrainingMemory, estimateTrainingMemory, type AvailableMemory, type EstimateOptions, type TrainingMemoryEstimate } from '../train/memory.js';
import { createModel, modelEntry } from './registry.js';

/** Options of `estimateModelMemory` and `checkModelMemory`. */
export interface ModelMemoryOptions {
  /** Images per batch (default 128, the lecture's). */
  batchSize?: number;
  /** [C, H, W] of one image (default: the model's input channels and size). */
  imageShape?: readonly number[];
  /** Backend to count for (default: the current one). */
  backend?: BackendName;
  /** Batch size of the lazy-initialization forward pass (default: the training batch). */
  initBatchSize?: number;
  /** How the model is initialized: `'applyInit'` (default, `convnet train`) or `'materialize'` (`convnet bench`); see `EstimateOptions.init`. */
  init?: EstimateOptions['init'];
  /** Process memory besides tensors (default: measured now). */
  runtime?: number;
}

function shapeOf(name: string, o: ModelMemoryOptions): number[] {
  const e = modelEntry(name);
  const image = o.imageShape ?? [e.inChannels, e.inputSize[0], e.inputSize[1]];
  return [o.batchSize ?? 128, ...image];
}

/**
 * The training-memory estimate of zoo model `name` (on the meta backend: nothing runs or is allocated).
 * @example estimateModelMemory('alexnet', { batchSize: 128 }).total
 */
export function estimateModelMemory(name: string, o: ModelMemoryOptions = {}): TrainingMemoryEstimate {
  const shape = shapeOf(name, o);
  const inChannels = shape[1];
  return estimateTrainingMemory(() => createModel(name, { inChannels }), shape, {
    backend: o.backend,
    initBatchSize: o.initBatchSize,
    init: o.init,
    runtime: o.runtime,
    numClasses: modelEntry(name).numClasses,
  });
}

/**
 * Throws an `OutOfMemoryError` (one line: model, batch size, estimate, the largest batch that fits)
 * when training zoo model `name` would need more memory than `available` (default: what the machine
 * can give now); returns the estimate otherwise.
 * @example checkModelMemory('vgg11', { batchSize: 100000 }) // throws
 */
export function checkModelMemory(name: string, o: ModelMemoryOptions & { available?: AvailableMemory | null } = {}): TrainingMemoryEstimate {
  const shape = shapeOf(name, o);
  const inChannels = shape[1];
  return checkTrainingMemory(() => createModel(name, { inChannels }), shape, {
    name,
    backend: o.backend,
    initBatchSize: o.initBatchSize,
    init: o.init,
    runtime: o.runtime,
    available: o.available,
    numClasses: modelEntry(name).numClasses,
  });
}
