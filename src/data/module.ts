/**
 * The `DataModule` interface the trainer consumes (d2l's `DataModule`): a train and a validation
 * loader plus what a model needs to know about the data.
 */
import type { DataLoader } from './loader.js';

/** A dataset ready for training, as d2l's `DataModule`. */
export interface DataModule {
  /** Loader of the training split (shuffled each epoch). */
  trainLoader(): DataLoader;
  /** Loader of the validation split (in order). */
  valLoader(): DataLoader;
  /** Number of classes. */
  readonly numClasses: number;
  /** Class names, by class index. */
  readonly classNames: readonly string[];
  /** [C, H, W] of one input image. */
  readonly inputShape: [number, number, number];
}

/** Names of class indices (d2l's `text_labels`). */
export function textLabels(classNames: readonly string[], indices: ArrayLike<number> | Iterable<number>): string[] {
  const out: string[] = [];
  for (const i of Array.from(indices as ArrayLike<number>)) {
    const name = classNames[i];
    if (name === undefined) throw new Error(`textLabels: class index ${i} is outside 0..${classNames.length - 1}`);
    out.push(name);
  }
  return out;
}
