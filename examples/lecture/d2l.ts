/**
 * The lecture's `d2l` namespace in TypeScript: `Classifier`, `Trainer`, `FashionMNIST`, `initCnn`
 * and `nextBatch` (Python's `next(iter(loader))`). The Trainer here applies the lecture runner's
 * command-line settings (`--quick`, `--limit`, `--epochs`, `--no-train`) and prints one line per
 * epoch, so that the cells can be written exactly as in the notebook.
 */
import * as data from '../../src/data/index.js';
import { initCnn } from '../../src/nn/index.js';
import {
  Classifier,
  Trainer as BaseTrainer,
  formatEpoch,
  type Batch,
  type BatchEvent,
  type Classifier as ClassifierType,
  type DataModuleLike,
  type EpochRecord,
  type TrainerOptions,
} from '../../src/train/index.js';

export { Classifier, initCnn };

/** How the training cells run (set by examples/lecture.ts from the command line). */
export interface RunSettings {
  /** Run `trainer.fit` at all (the notebook has these lines commented out). */
  train: boolean;
  /** Train on a subset: 1 epoch, `limit` batches of the large models, all of 28x28 ones. */
  quick: boolean;
  /** Training batches per epoch (undefined: all; with --quick, 3 for inputs larger than 28x28). */
  limit?: number;
  /** Validation batches per epoch (undefined: all; with --quick, 2 for inputs larger than 28x28). */
  valLimit?: number;
  /** Override the cells' maxEpochs. */
  epochs?: number;
  /** Data loader worker threads. */
  numWorkers?: number;
  /** Where the cells print. */
  log: (line: string) => void;
}

/** The current settings (mutable, set once by the runner). */
export const settings: RunSettings = { train: true, quick: false, log: (l) => console.log(l) };

/** d2l's `FashionMNIST(batch_size, resize)`. @example d2l.FashionMNIST({ batchSize: 128, resize: [224, 224] }) */
export function FashionMNIST(opts: { batchSize?: number; resize?: number | [number, number] } = {}): data.FashionMNIST {
  return data.FashionMNIST({ ...opts, numWorkers: settings.numWorkers ?? 1 });
}

/** Python's `next(iter(loader))`: the first batch (the loader stops its workers). */
export function nextBatch(loader: Iterable<Batch>): Batch {
  for (const b of loader) return b;
  throw new Error('nextBatch: the loader is empty');
}

/** The lecture's `d2l.Trainer(max_epochs=10, num_gpus=1)`; `numGpus` is accepted and ignored (CPU). */
export class Trainer extends BaseTrainer {
  constructor(opts: TrainerOptions & { numGpus?: number }) {
    const { numGpus: _numGpus, ...rest } = opts;
    super({ ...rest, maxEpochs: settings.epochs ?? (settings.quick ? 1 : rest.maxEpochs), log: settings.log });
  }

  /** Trains as `Trainer.fit`, on a subset with --quick / --limit; prints the epochs. */
  override async fit(model: ClassifierType, d: DataModuleLike): Promise<EpochRecord[]> {
    if (!settings.train) {
      settings.log('(training skipped: --no-train)');
      return [];
    }
    const large = ((d as { inputShape?: number[] }).inputShape?.[1] ?? 28) > 28;
    const limit = settings.limit ?? (settings.quick && large ? 3 : undefined);
    const valLimit = settings.valLimit ?? (settings.quick && large ? 2 : undefined);
    const sub = limit !== undefined || valLimit !== undefined;
    settings.log(
      `training ${model.constructor.name} (lr ${model.lr}) for ${this.maxEpochs} epoch(s)` +
        (sub ? ` on ${limit ?? 'all'} training / ${valLimit ?? 'all'} validation batches per epoch` : ''),
    );
    const t = new BaseTrainer({
      maxEpochs: this.maxEpochs,
      gradientClipVal: this.gradientClipVal,
      seed: this.seed,
      limitTrainBatches: limit,
      limitValBatches: valLimit,
      log: (l) => settings.log(l),
    });
    for (const ev of ['batch', 'epoch', 'end']) t.on(ev, (e) => this.emit(ev, e));
    // d2l plots progress live; print a progress line at most every 15 s instead.
    let last = performance.now();
    t.on('batch', (e: BatchEvent) => {
      if (performance.now() - last < 15_000) return;
      last = performance.now();
      settings.log(
        `  epoch ${e.epoch}: batch ${e.batch}/${e.numBatches ?? '?'}, loss ${e.loss.toFixed(4)}, ${e.imagesPerSec.toFixed(1)} img/s`,
      );
    });
    return t.fit(model, d);
  }
}

export { formatEpoch };
