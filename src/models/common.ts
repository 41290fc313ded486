/** Options shared by the zoo models, and how the constructors initialize their weights. */
import { xavierInitCnn, type Module } from '../nn/index.js';
import type { ClassifierOptions } from '../train/classifier.js';

/**
 * How a zoo model's constructor initializes its convolution and linear weights:
 * - `'default'`: PyTorch's default init of each layer (kaiming_uniform(a=√5) weights, biases
 *   U(±1/√fanIn)). This is what the lecture's constructors give: their `self.net.apply(init_cnn)`
 *   runs on still-lazy layers, where d2l's `init_cnn` does nothing. The lecture's AlexNet and
 *   DenseNet train from it; its VGG, NiN and LeNets get Xavier afterwards from
 *   `applyInit([batch], initCnn)`.
 * - `'xavier'`: Xavier-uniform on every convolution and linear weight (`nn.xavierInitCnn`, run
 *   when each lazy layer materializes); biases keep their default init.
 */
export type InitScheme = 'default' | 'xavier';

/** The init schemes, for validation and help texts. */
export const INIT_SCHEMES: readonly InitScheme[] = ['default', 'xavier'];

/** Hyperparameters of every zoo model: d2l's `lr` and `numClasses`, plus the input channels and the init. */
export interface ModelOptions extends ClassifierOptions {
  /**
   * Input channels the model is meant for (default 1, Fashion-MNIST). The layers are lazy, so this
   * only documents the model and sets the shape of example inputs (`layerSummary`, the registry).
   */
  inChannels?: number;
  /** Weight init of the constructor (default `'default'`, PyTorch's; see `InitScheme`). */
  init?: InitScheme;
}

/** Validates and returns `opts.inChannels ?? 1`. */
export function inChannelsOf(opts: ModelOptions, model: string): number {
  const c = opts.inChannels ?? 1;
  if (!Number.isInteger(c) || c < 1) throw new Error(`${model}: inChannels must be a positive integer, got ${opts.inChannels}`);
  return c;
}

/**
 * The constructors' `self.net.apply(d2l.init_cnn)`: with `init: 'default'` nothing happens (as in
 * PyTorch, where the layers are still lazy); with `'xavier'` Xavier-uniform is applied to every
 * convolution and linear weight when it materializes.
 * @example initWeights(this.net, opts, 'AlexNet');
 */
export function initWeights(net: Module, opts: ModelOptions, model: string): void {
  const init = opts.init ?? 'default';
  if (!INIT_SCHEMES.includes(init)) throw new Error(`${model}: init must be ${INIT_SCHEMES.map((s) => `'${s}'`).join(' or ')}, got '${String(opts.init)}'`);
  if (init === 'xavier') net.apply(xavierInitCnn);
}
