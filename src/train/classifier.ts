/**
 * `Classifier`: d2l's `Module` + `Classifier` in one base class. A model subclasses it, sets
 * `this.net` (usually an `nn.Sequential`) and gets the loss, accuracy, the training and validation
 * steps, the optimizer, `layerSummary` and `applyInit` the lecture relies on.
 */
import { Module } from '../nn/module.js';
import { SGD } from '../optim/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { tidy } from '../tensor/scope.js';
import { randn, zeros } from '../tensor/creation.js';
import { noGrad } from '../autograd/grad-mode.js';
import { crossEntropy, opFlops, withOpTracer } from '../ops/index.js';

/** Hyperparameters shared by every classifier (d2l's `save_hyperparameters`). */
export interface ClassifierOptions {
  /** Learning rate of the minibatch SGD from `configureOptimizers` (default 0.1, as d2l). */
  lr?: number;
  /** Number of output classes (default 10). */
  numClasses?: number;
  /** Label smoothing of the cross-entropy loss, in [0, 1) (default 0; PyTorch's `label_smoothing`). */
  labelSmoothing?: number;
}

import type { Batch } from '../data/loader.js';
export type { Batch };

/** Options of `Classifier.accuracy`. */
export interface AccuracyOptions {
  /** Return the mean (default true) instead of the per-example 0/1 vector. */
  averaged?: boolean;
}

/** What `validationStep` returns: scalar tensors of the batch's mean loss and accuracy. */
export interface ValidationResult {
  /** Mean cross-entropy over the batch (scalar). */
  loss: Tensor;
  /** Fraction of correct predictions (scalar). */
  accuracy: Tensor;
}

/** One row of `layerSummary`. */
export interface LayerSummaryRow {
  /** The child's name in the container (`'0'`, `'dense_blk1'`, ...). */
  name: string;
  /** Class name as PyTorch prints it after lazy materialization (`Conv2d`, not `LazyConv2d`). */
  type: string;
  /** Output shape for the summary input. */
  outputShape: number[];
  /** Number of parameter elements in this layer (with its descendants). */
  params: number;
  /**
   * Floating-point operations of one forward pass over the summary input (multiply-adds count 2),
   * summed over the ops the layer runs (each op declares its count: convolutions, matmuls, batch
   * norm, pooling; activations, reshapes and concatenation count 0).
   */
  flops: number;
}

/** Options of `layerSummary`. */
export interface LayerSummaryOptions {
  /** Print the d2l-style lines (default true). */
  print?: boolean;
  /** Where lines go (default `console.log`). */
  log?: (line: string) => void;
}

/** The class name PyTorch would print: lazy layers become their eager class once materialized. */
export function layerTypeName(m: Module): string {
  return m.constructor.name.replace(/^Lazy/, '');
}

function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * Base class of the model zoo, as d2l's `Classifier` (which extends d2l's `Module`): hyperparameters
 * come from the constructor's options object, `forward` runs `this.net`, the loss is cross-entropy
 * and `configureOptimizers` returns minibatch SGD with `this.lr`.
 * @example
 * class LeNet extends Classifier {
 *   net: nn.Sequential;
 *   constructor(opts: ClassifierOptions = {}) {
 *     super(opts);
 *     this.net = new nn.Sequential(new nn.LazyConv2d(6, { kernelSize: 5, padding: 2 }), new nn.Sigmoid(), ...);
 *   }
 * }
 * new LeNet().layerSummary([1, 1, 28, 28]);
 */
export class Classifier extends Module {
  /** Learning rate used by `configureOptimizers`. */
  lr: number;
  /** Number of classes the last layer predicts. */
  numClasses: number;
  /** Label smoothing ε of `loss` (0: plain cross-entropy). */
  labelSmoothing: number;

  constructor(opts: ClassifierOptions = {}) {
    super();
    this.lr = opts.lr ?? 0.1;
    this.numClasses = opts.numClasses ?? 10;
    this.labelSmoothing = opts.labelSmoothing ?? 0;
    if (!(this.labelSmoothing >= 0 && this.labelSmoothing < 1)) {
      throw new Error(`${new.target.name}: labelSmoothing must be in [0, 1), got ${opts.labelSmoothing}`);
    }
    if (!(this.lr > 0) || !Number.isFinite(this.lr)) throw new Error(`${new.target.name}: lr must be a positive number, got ${opts.lr}`);
    if (!Number.isInteger(this.numClasses) || this.numClasses < 1) {
      throw new Error(`${new.target.name}: numClasses must be a positive integer, got ${opts.numClasses}`);
    }
  }

  /** The network body; subclasses assign it in their constructor. */
  protected get body(): Module {
    const net = (this as unknown as { net?: unknown }).net;
    if (!(net instanceof Module)) {
      throw new Error(`${this.constructor.name}: set this.net in the constructor or override forward()`);
    }
    return net;
  }

  /** The top-level layers of the network with their names: the rows of `layerSummary`. */
  namedLayers(): [string, Module][] {
    return this.body.namedChildren();
  }

  /** Runs `this.net` (d2l's `Module.forward`). */
  override forward(x: Tensor): Tensor {
    return this.body.call(x);
  }

  /**
   * Mean cross-entropy between logits `yHat` [B, numClasses] and int32 labels `y` [B], with the
   * model's `labelSmoothing` (also in validation, as a PyTorch criterion built with it).
   */
  loss(yHat: Tensor, y: Tensor): Tensor {
    const opts = this.labelSmoothing > 0 ? { labelSmoothing: this.labelSmoothing } : {};
    return crossEntropy(yHat.reshape([-1, yHat.shape[yHat.ndim - 1]!]), y.reshape([-1]), opts);
  }

  /**
   * Fraction of rows whose argmax equals the label (d2l's `accuracy`); with `averaged: false`, the
   * float32 0/1 vector.
   */
  accuracy(yHat: Tensor, y: Tensor, opts: AccuracyOptions = {}): Tensor {
    const preds = yHat.reshape([-1, yHat.shape[yHat.ndim - 1]!]).argmax(1);
    const compare = preds.eq(y.reshape([-1]));
    return opts.averaged === false ? compare : compare.mean();
  }

  /** Forward + loss on a training batch (the trainer runs backward and the optimizer). */
  trainingStep(batch: Batch): Tensor {
    return this.loss(this.call(batch.x), batch.y);
  }

  /** Loss and accuracy on a validation batch (the trainer runs it under `noGrad`, in eval mode). */
  validationStep(batch: Batch): ValidationResult {
    const yHat = this.call(batch.x);
    return { loss: this.loss(yHat, batch.y), accuracy: this.accuracy(yHat, batch.y) };
  }

  /** Minibatch SGD over all parameters with `this.lr` (d2l's `configure_optimizers`). */
  configureOptimizers(): SGD {
    return new SGD({ params: this.parameters(), lr: this.lr });
  }

  /**
   * d2l's `apply_init`, exactly: one forward on `inputs` in the model's current mode with gradients
   * on — a fresh model is in training mode, so BatchNorm layers update their running statistics
   * from this batch and Dropout draws masks, as in PyTorch — then `this.net.apply(init)` when `init`
   * is given (on materialized layers: the forward has just materialized the lazy ones). Nothing the
   * forward creates survives it. To only give lazy layers their shapes, use `materialize`.
   * @example model.applyInit([batch.x], nn.initCnn);
   */
  applyInit(inputs: Tensor[], init?: (m: Module) => void): this {
    tidy(() => void (this.forward as (...xs: Tensor[]) => Tensor).apply(this, inputs));
    if (init !== undefined) this.body.apply(init);
    return this;
  }

  /**
   * Materializes the lazy layers with one forward on zeros of `inputShape` (e.g. `[1, 1, 28, 28]`),
   * in eval mode under `noGrad`, so that nothing but the parameters' shapes and their default init
   * happens: no BatchNorm statistic moves, no Dropout mask is drawn. Restores the training flags.
   * For loading a checkpoint into a fresh model, or inspecting its parameters before training.
   * @example createModel('alexnet').materialize([1, 1, 224, 224]).loadStateDict(weights);
   */
  materialize(inputShape: readonly number[]): this {
    const flags = this.modules().map((m) => m.training);
    this.eval();
    try {
      tidy(() => noGrad(() => void this.forward(zeros(inputShape))));
    } finally {
      this.modules().forEach((m, i) => (m.training = flags[i]!));
    }
    return this;
  }

  /**
   * d2l's `layer_summary`: feeds a random input of `inputShape` through the top-level layers of
   * `this.net` and prints, per layer, its class and output shape (`Conv2d output shape:\t [1, 96,
   * 54, 54]`) plus its parameter count; returns the rows (also with FLOPs). Runs under `noGrad` in
   * eval mode (BatchNorm statistics are untouched) and materializes lazy layers.
   * @example new AlexNet().layerSummary([1, 1, 224, 224]);
   */
  layerSummary(inputShape: readonly number[], opts: LayerSummaryOptions = {}): LayerSummaryRow[] {
    const print = opts.print ?? true;
    const log = opts.log ?? ((line: string) => console.log(line));
    const body = this.body;
    const wasTraining = this.training;
    const rows: LayerSummaryRow[] = [];
    this.eval();
    try {
      tidy(() =>
        noGrad(() => {
          let x = randn(inputShape);
          for (const [name, layer] of body.namedChildren()) {
            let flops = 0;
            // Every op the layer runs reports its FLOPs (declared next to the op).
            const input = x;
            x = withOpTracer((c) => void (flops += opFlops(c)), () => layer.call(input));
            const row: LayerSummaryRow = {
              name,
              type: layerTypeName(layer),
              outputShape: [...x.shape],
              params: layer.numParameters(),
              flops,
            };
            rows.push(row);
            if (print) log(`${row.type} output shape:\t ${formatShape(row.outputShape)}\tparams: ${row.params}`);
          }
        }),
      );
    } finally {
      this.train(wasTraining);
    }
    if (print) {
      const params = rows.reduce((s, r) => s + r.params, 0);
      const flops = rows.reduce((s, r) => s + r.flops, 0);
      log(`Total params: ${params.toLocaleString('en-US')}\tforward FLOPs: ${formatFlops(flops)}`);
    }
    return rows;
  }
}

/** `1.23 GFLOP`-style formatting. */
export function formatFlops(flops: number): string {
  const units: [number, string][] = [
    [1e12, 'TFLOP'],
    [1e9, 'GFLOP'],
    [1e6, 'MFLOP'],
    [1e3, 'kFLOP'],
  ];
  for (const [v, u] of units) if (flops >= v) return `${(flops / v).toFixed(2)} ${u}`;
  return `${flops} FLOP`;
}
