/** Lecture section "Batch Normalization", cell by cell. */
// In [ ]: from d2l import torch as d2l / import torch / from torch import nn
import * as d2l from './d2l.js';
import * as nn from '../../src/nn/index.js';
import * as cn from '../../src/index.js';
import type { Tensor } from '../../src/index.js';

// In [ ]: def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum)
/** The lecture's `batch_norm`, with elementwise and reduction ops only. */
export function batchNorm(
  X: Tensor, gamma: Tensor, beta: Tensor, movingMean: Tensor, movingVar: Tensor, eps: number, momentum: number,
): [Tensor, Tensor, Tensor] {
  let XHat: Tensor;
  // Use isGradEnabled to determine whether we are in training mode
  if (!cn.isGradEnabled()) {
    // In prediction mode, use mean and variance obtained by moving average
    XHat = X.sub(movingMean).div(movingVar.add(eps).sqrt());
  } else {
    if (X.ndim !== 2 && X.ndim !== 4) throw new Error('batchNorm: expected a 2-D or 4-D input');
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
    // Update the mean and variance using moving average (.data: no graph)
    [movingMean, movingVar] = cn.noGrad(() => [
      movingMean.mul(1.0 - momentum).add(mean.mul(momentum)),
      movingVar.mul(1.0 - momentum).add(variance.mul(momentum)),
    ]);
  }
  const Y = gamma.mul(XHat).add(beta); // Scale and shift
  return [Y, movingMean, movingVar];
}

// In [ ]: class BatchNorm(nn.Module)
/**
 * The lecture's `BatchNorm`. numFeatures: the number of outputs for a fully connected layer or the
 * number of output channels for a convolutional layer. numDims: 2 for a fully connected layer and 4
 * for a convolutional layer.
 */
export class BatchNorm extends nn.Module {
  gamma: nn.Parameter;
  beta: nn.Parameter;
  movingMean: Tensor;
  movingVar: Tensor;
  constructor(numFeatures: number, numDims: number) {
    super();
    const shape = numDims === 2 ? [1, numFeatures] : [1, numFeatures, 1, 1];
    // The scale parameter and the shift parameter (model parameters) are initialized to 1 and 0
    this.gamma = new nn.Parameter(cn.ones(shape));
    this.beta = new nn.Parameter(cn.zeros(shape));
    // The variables that are not model parameters are initialized to 0 and 1 (keep(): they
    // outlive the trainer's per-step memory scopes)
    this.movingMean = cn.zeros(shape).keep();
    this.movingVar = cn.ones(shape).keep();
  }

  override forward(X: Tensor): Tensor {
    // (PyTorch moves moving_mean/var to X's device here; tensors live on one backend in this run.)
    // Save the updated movingMean and movingVar (freeing the old ones)
    const [Y, mm, mv] = batchNorm(X, this.gamma, this.beta, this.movingMean, this.movingVar, 1e-5, 0.1);
    if (mm !== this.movingMean) [this.movingMean.dispose(), (this.movingMean = mm.keep())];
    if (mv !== this.movingVar) [this.movingVar.dispose(), (this.movingVar = mv.keep())];
    return Y;
  }
}

// In [ ]: class BNLeNetScratch(d2l.Classifier)
/** The lecture's LeNet with the scratch BatchNorm. */
export class BNLeNetScratch extends d2l.Classifier {
  net: nn.Sequential;
  constructor({ lr = 0.1, numClasses = 10 } = {}) {
    super({ lr, numClasses });
    this.net = new nn.Sequential(
      new nn.LazyConv2d(6, { kernelSize: 5 }), new BatchNorm(6, 4),
      new nn.Sigmoid(), new nn.AvgPool2d({ kernelSize: 2, stride: 2 }),
      new nn.LazyConv2d(16, { kernelSize: 5 }), new BatchNorm(16, 4),
      new nn.Sigmoid(), new nn.AvgPool2d({ kernelSize: 2, stride: 2 }),
      new nn.Flatten(), new nn.LazyLinear(120),
      new BatchNorm(120, 2), new nn.Sigmoid(), new nn.LazyLinear(84),
      new BatchNorm(84, 2), new nn.Sigmoid(),
      new nn.LazyLinear(numClasses));
  }
}

// In [ ]: class BNLeNet(d2l.Classifier)
/** The lecture's concise LeNet with the framework's batch norm. */
export class BNLeNet extends d2l.Classifier {
  net: nn.Sequential;
  constructor({ lr = 0.1, numClasses = 10 } = {}) {
    super({ lr, numClasses });
    this.net = new nn.Sequential(
      new nn.LazyConv2d(6, { kernelSize: 5 }), new nn.LazyBatchNorm2d(),
      new nn.Sigmoid(), new nn.AvgPool2d({ kernelSize: 2, stride: 2 }),
      new nn.LazyConv2d(16, { kernelSize: 5 }), new nn.LazyBatchNorm2d(),
      new nn.Sigmoid(), new nn.AvgPool2d({ kernelSize: 2, stride: 2 }),
      new nn.Flatten(), new nn.LazyLinear(120), new nn.LazyBatchNorm1d(),
      new nn.Sigmoid(), new nn.LazyLinear(84), new nn.LazyBatchNorm1d(),
      new nn.Sigmoid(), new nn.LazyLinear(numClasses));
  }
}

function fmtValues(t: Tensor): string {
  return `tensor([${Array.from(t.toArray(), (v) => v.toFixed(4)).join(', ')}])`;
}

/** Runs the section's cells. */
export async function run(): Promise<void> {
  const log = d2l.settings.log;
  log('\n## Batch normalization\n');
  {
    // In [ ]: training cell (from scratch)
    const trainer = new d2l.Trainer({ maxEpochs: 10, numGpus: 1 });
    const data = d2l.FashionMNIST({ batchSize: 128 });
    const model = new BNLeNetScratch({ lr: 0.1 });
    const batch = d2l.nextBatch(data.getDataloader(true));
    model.applyInit([batch.x], d2l.initCnn);
    cn.dispose(batch);
    await trainer.fit(model, data);

    // In [ ]: model.net[1].gamma.reshape((-1,)), model.net[1].beta.reshape((-1,))
    const bn = model.net.at(1) as BatchNorm;
    log(`(${fmtValues(bn.gamma.reshape([-1]))},\n ${fmtValues(bn.beta.reshape([-1]))})`);
  }
  {
    // In [ ]: training cell (concise)
    const trainer = new d2l.Trainer({ maxEpochs: 10, numGpus: 1 });
    const data = d2l.FashionMNIST({ batchSize: 128 });
    const model = new BNLeNet({ lr: 0.1 });
    const batch = d2l.nextBatch(data.getDataloader(true));
    model.applyInit([batch.x], d2l.initCnn);
    cn.dispose(batch);
    await trainer.fit(model, data);
  }
}
