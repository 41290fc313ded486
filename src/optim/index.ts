/**
 * Optimizers, as `torch.optim`: `SGD`, `Adam` and `AdamW` with PyTorch's update rules, parameter
 * groups and checkpoints, and the learning-rate schedules of `torch.optim.lr_scheduler` with
 * PyTorch's names and trajectories.
 * @example
 * import { nn, optim } from 'convnet';
 * const opt = new optim.SGD({ params: net.parameters(), lr: 0.1, momentum: 0.9 });
 * const sched = new optim.CosineAnnealingLR(opt, { tMax: 10 }); // sched.step() after each epoch
 */
// The tensors this module hands out have their methods whoever imported what first (see ops/method.ts).
import '../ops/index.js';
export {
  Optimizer,
  type OptimizerStateDict,
  type ParamGroup,
  type ParamGroupInput,
  type ParamsInput,
  type ParamState,
} from './optimizer.js';
export { SGD, type SGDHyper, type SGDOptions } from './sgd.js';
export { Adam, type AdamHyper, type AdamOptions } from './adam.js';
export { AdamW, type AdamWOptions } from './adamw.js';
export { LRScheduler, type LRSchedulerStateDict, type SchedulableOptimizer } from './lr-scheduler.js';
export { StepLR, MultiStepLR, type StepLROptions, type MultiStepLROptions } from './step-lr.js';
export { CosineAnnealingLR, type CosineAnnealingLROptions } from './cosine-annealing-lr.js';
export { LinearLR, type LinearLROptions } from './linear-lr.js';
export { OneCycleLR, type OneCycleLROptions } from './one-cycle-lr.js';
export { SequentialLR, type SequentialLROptions } from './sequential-lr.js';
