/** The training workflow for the browser bundle: src/train without checkpoint files (node:fs). */
export {
  Classifier,
  layerTypeName,
  formatFlops,
  type ClassifierOptions,
  type Batch,
  type AccuracyOptions,
  type ValidationResult,
  type LayerSummaryRow,
  type LayerSummaryOptions,
} from '../train/classifier.js';
export { layerFlops } from '../train/flops.js';
export {
  Trainer,
  trainStep,
  clipGradNorm,
  formatEpoch,
  NonFiniteLossError,
  type FitOptions,
  type EpochEndContext,
  type TrainerOptions,
  type EpochRecord,
  type TrainerEvent,
  type OptimizerLike,
  type DataModuleLike,
  type BatchSource,
} from '../train/trainer.js';
