/**
 * Optimizers, as `torch.optim`: `SGD` and `Adam` with PyTorch's update rules, parameter groups and
 * checkpoints.
 * @example
 * import { nn, optim } from 'convnet';
 * const opt = new optim.SGD({ params: net.parameters(), lr: 0.1 });
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
