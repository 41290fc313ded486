/**
 * Batch normalization from scratch, a line-by-line port of the lecture's `batch_norm` function and
 * `BatchNorm` module, written only with elementwise and reduction ops. Like the lecture (and unlike
 * `BatchNorm2d`), the moving variance averages the *biased* batch variance, and the mode is chosen
 * by grad mode (`noGrad` = prediction), not by `train()` / `eval()`.
 */
import { Tensor } from '../tensor/tensor.js';
import { copyTo } from '../tensor/transfer.js';
import { ones, zeros } from '../tensor/creation.js';
import { isGradEnabled, noGrad } from '../autograd/grad-mode.js';
import { fmt } from '../tensor/shape.js';
import { Module } from './module.js';
import { Parameter } from './parameter.js';
import '../ops/index.js';

/**
 * The lecture's `batch_norm`: returns `[Y, movingMean, movingVar]`. With grad mode on it
 * normalizes with the batch statistics (over dim 0 for `[N, C]`, over dims 0, 2, 3 for
 * `[N, C, H, W]`) and returns updated moving averages (new tensors, detached); under `noGrad` it
 * normalizes with the moving statistics and returns them unchanged.
 * @example
 * const [Y, mm, mv] = nn.batchNorm(X, gamma, beta, movingMean, movingVar, 1e-5, 0.1);
 */
export function batchNorm(
  X: Tensor,
  gamma: Tensor,
  beta: Tensor,
  movingMean: Tensor,
  movingVar: Tensor,
  eps: number,
  momentum: number,
): [Tensor, Tensor, Tensor] {
  let XHat: Tensor;
  // Use isGradEnabled to determine whether we are in training mode
  if (!isGradEnabled()) {
    // In prediction mode, use mean and variance obtained by moving average
    XHat = X.sub(movingMean).div(movingVar.add(eps).sqrt());
  } else {
    if (X.ndim !== 2 && X.ndim !== 4) {
      throw new Error(`batchNorm: expected a 2-D [N, C] or 4-D [N, C, H, W] input, got ${fmt(X.shape)}`);
    }
    let mean: Tensor;
    let variance: Tensor;
    if (X.ndim === 2) {
      // When using a fully connected layer, calculate the mean and variance on the feature dimension
      mean = X.mean(0);
      variance = X.sub(mean).pow(2).mean(0);
    } else {
      // When using a two-dimensional convolutional layer, calculate the mean and variance on the
      // channel dimension (axis=1). Here we need to maintain the shape of X, so that the
      // broadcasting operation can be carried out later
      mean = X.mean([0, 2, 3], { keepdim: true });
      variance = X.sub(mean).pow(2).mean([0, 2, 3], { keepdim: true });
    }
    // In training mode, the current mean and variance are used
    XHat = X.sub(mean).div(variance.add(eps).sqrt());
    // Update the mean and variance using moving average (detached, like `.data`)
    [movingMean, movingVar] = noGrad(() => [
      movingMean.mul(1.0 - momentum).add(mean.mul(momentum)),
      movingVar.mul(1.0 - momentum).add(variance.mul(momentum)),
    ]);
  }
  const Y = gamma.mul(XHat).add(beta); // Scale and shift
  return [Y, movingMean, movingVar];
}

/** `t` on `like`'s backend, for the lecture's `.to(X.device)`. */
function toBackend(t: Tensor, like: Tensor): Tensor {
  return copyTo(t, like.kernels);
}

/**
 * The lecture's scratch `BatchNorm` module. `numDims` is 2 for a fully connected layer (shapes
 * `[1, C]`) and 4 for a convolutional one (`[1, C, 1, 1]`). `gamma` (ones) and `beta` (zeros) are
 * Parameters; the moving mean (zeros) and moving variance (ones) are buffers named `moving_mean` /
 * `moving_var` (the lecture's attribute names), replaced after each training forward, the old ones
 * disposed. Unlike the lecture's Python class (plain attributes, absent from PyTorch's
 * `state_dict()`), they are part of `stateDict()`: a saved model, a checkpoint and `--resume` keep
 * them, so a trained model predicts with its own statistics, not with 0 and 1.
 * @example
 * const net = new nn.Sequential(new nn.LazyConv2d(6, { kernelSize: 5 }), new nn.BatchNorm(6, 4), new nn.Sigmoid());
 */
export class BatchNorm extends Module {
  /** Scale, ones of `[1, C]` or `[1, C, 1, 1]`. */
  gamma: Parameter;
  /** Shift, zeros of the same shape. */
  beta: Parameter;
  /** Channels (C). */
  readonly numFeatures: number;
  /** 2 (fully connected) or 4 (convolutional). */
  readonly numDims: number;

  constructor(numFeatures: number, numDims: number) {
    super();
    if (!Number.isInteger(numFeatures) || numFeatures <= 0) throw new Error(`BatchNorm: numFeatures must be a positive integer, got ${numFeatures}`);
    if (numDims !== 2 && numDims !== 4) throw new Error(`BatchNorm: numDims must be 2 or 4, got ${numDims}`);
    this.numFeatures = numFeatures;
    this.numDims = numDims;
    const shape = numDims === 2 ? [1, numFeatures] : [1, numFeatures, 1, 1];
    // The scale parameter and the shift parameter (model parameters) are initialized to 1 and 0
    this.gamma = new Parameter(ones(shape));
    this.beta = new Parameter(zeros(shape));
    // The variables that are not model parameters are initialized to 0 and 1
    this.registerBuffer('moving_mean', zeros(shape));
    this.registerBuffer('moving_var', ones(shape));
  }

  /** Moving mean (the `moving_mean` buffer). */
  get movingMean(): Tensor {
    return this.buffer('moving_mean')!;
  }

  /** Moving (biased) variance (the `moving_var` buffer). */
  get movingVar(): Tensor {
    return this.buffer('moving_var')!;
  }

  /** Replaces buffer `name` by `t` (kept), disposing the old tensor unless it is `t`. */
  #replace(name: 'moving_mean' | 'moving_var', t: Tensor): void {
    const old = this.buffer(name)!;
    if (t === old) return;
    this.registerBuffer(name, t);
    old.dispose();
  }

  override forward(X: Tensor): Tensor {
    const name = `BatchNorm(${this.numFeatures}, numDims=${this.numDims})`;
    if (X.ndim !== this.numDims) throw new Error(`${name}: expected a ${this.numDims}-D input, got ${fmt(X.shape)}`);
    if (X.shape[1] !== this.numFeatures) throw new Error(`${name}: input has ${X.shape[1]} channels (input ${fmt(X.shape)})`);
    // If X is on another backend, move movingMean and movingVar there
    if (this.movingMean.kernels !== X.kernels) {
      this.#replace('moving_mean', toBackend(this.movingMean, X));
      this.#replace('moving_var', toBackend(this.movingVar, X));
    }
    // Save the updated movingMean and movingVar
    const [Y, mm, mv] = batchNorm(X, this.gamma, this.beta, this.movingMean, this.movingVar, 1e-5, 0.1);
    this.#replace('moving_mean', mm);
    this.#replace('moving_var', mv);
    return Y;
  }

  override extraRepr(): string {
    return `${this.numFeatures}, numDims=${this.numDims}`;
  }
}
