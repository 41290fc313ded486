/** The d2l training workflow: `Classifier` (d2l's Module + Classifier) and `Trainer`. */
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
} from './classifier.js';
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
  type BatchEvent,
  type EpochEvent,
  type EndEvent,
  type OptimizerLike,
  type DataModuleLike,
  type BatchSource,
  type DataParallelHooks,
  type SchedulerLike,
  type SchedulerInterval,
  type CurvePoint,
} from './trainer.js';
export { saveCheckpoint, saveCheckpointAsync, loadCheckpoint, CHECKPOINT_FORMAT, type CheckpointState } from './checkpoint.js';
export { PRECISIONS, resolvePrecision, withPrecision, type Precision, type ResolvedPrecision } from './precision.js';
