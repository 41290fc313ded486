/** Options shared by the zoo models. */
import type { ClassifierOptions } from '../train/classifier.js';

/** Hyperparameters of every zoo model: d2l's `lr` and `numClasses`, plus the input channels. */
export interface ModelOptions extends ClassifierOptions {
  /**
   * Input channels the model is meant for (default 1, Fashion-MNIST). The layers are lazy, so this
   * only documents the model and sets the shape of example inputs (`layerSummary`, the registry).
   */
  inChannels?: number;
}

/** Validates and returns `opts.inChannels ?? 1`. */
export function inChannelsOf(opts: ModelOptions, model: string): number {
  const c = opts.inChannels ?? 1;
  if (!Number.isInteger(c) || c < 1) throw new Error(`${model}: inChannels must be a positive integer, got ${opts.inChannels}`);
  return c;
}
