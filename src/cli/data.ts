/**
 * The CLI's data: `--data fashion-mnist` (Debian's IDX files, resized to the model's input) or
 * `--data DIR` (an image folder, one sub-folder per class), optionally cut to the first N training /
 * validation images, as a `DataModuleLike` whose training shuffles come from one generator that the
 * checkpoint saves (so a resumed run sees the same data order).
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Generator } from '../tensor/random.js';
import { DataLoader, type Batch } from '../data/loader.js';
import { Dataset } from '../data/dataset.js';
import { FashionMNIST } from '../data/fashion-mnist.js';
import { FASHION_MNIST_LABELS, loadFashionMnistSplit } from '../data/fashion-mnist-files.js';
import { ImageFolder } from '../data/image-folder.js';
import { DistributedSampler } from '../dist/sampler.js';
import type { DataModuleLike } from '../train/trainer.js';
import { CliError, UsageError } from './args.js';
import { parseAugment } from './recipe.js';

/** The `--data` value naming the built-in dataset. */
export const FASHION_MNIST = 'fashion-mnist';

/** What to load: everything a run records so that eval / resume rebuild the same data. */
export interface DataConfig {
  /** `'fashion-mnist'` or the absolute path of an image folder. */
  data: string;
  /** Samples per batch. */
  batchSize: number;
  /** Image size [height, width] fed to the model. */
  resize: [number, number];
  /** Seed of the image folder's train/validation split and of the training shuffles. */
  seed: number;
  /** Use only the first N training images (null: all). */
  limitTrain: number | null;
  /** Use only the first N validation images (null: all). */
  limitVal: number | null;
  /** Augmentation of the training images (`--augment`, canonical form; absent or 'none': none). */
  augment?: string;
}

/** Training and validation loaders plus what a model and `predict` need to know about the data. */
export class CliData implements DataModuleLike {
  /** Generator of the training shuffles (its state goes into the checkpoint). */
  readonly generator: Generator;
  private train_: DataLoader | null = null;
  private val_: DataLoader | null = null;
  private shard_: { rank: number; worldSize: number } | null = null;

  constructor(
    /** Training samples (after `limitTrain`). */
    readonly train: Dataset,
    /** Validation samples (after `limitVal`). */
    readonly val: Dataset,
    /** Class names by index. */
    readonly classNames: readonly string[],
    /** How images are decoded for `predict`: channels and antialiasing. */
    readonly decode: { channels: number; antialias: boolean },
    /** What was loaded (batch size, seed of the shuffles, limits). */
    readonly config: DataConfig,
  ) {
    this.generator = new Generator(config.seed);
  }

  /** [C, H, W] of one image. */
  get inputShape(): [number, number, number] {
    return this.train.sampleShape;
  }

  /**
   * Data-parallel training: from now on this process reads only its rank's part of every epoch
   * (`DistributedSampler`; validation unpadded) in batches of batchSize / worldSize, so the world's
   * batches are the batches one process would read. The epoch's order is still drawn whole from
   * `generator`, whatever the world size. Call before the first pass.
   */
  shard(rank: number, worldSize: number): void {
    if (this.config.batchSize % worldSize !== 0) {
      throw new UsageError(`--batch-size ${this.config.batchSize} is the global batch and must be divisible by the ${worldSize} processes`);
    }
    this.shard_ = { rank, worldSize };
    this.train_ = null;
    this.val_ = null;
  }

  #loaderOptions(train: boolean): { batchSize: number; sampler?: DistributedSampler } {
    const s = this.shard_;
    if (s === null) return { batchSize: this.config.batchSize };
    return {
      batchSize: this.config.batchSize / s.worldSize,
      sampler: new DistributedSampler({ numReplicas: s.worldSize, rank: s.rank, pad: train }),
    };
  }

  /** A pass over the shuffled training set (one loader, so its generator carries across epochs). */
  trainLoader(): YieldingBatches {
    this.train_ ??= new DataLoader(this.train, { ...this.#loaderOptions(true), shuffle: true, numWorkers: 1, generator: this.generator });
    return new YieldingBatches(this.train_);
  }

  /**
   * The first batch of a fresh pass over the shuffled training set (d2l's
   * `next(iter(data.get_dataloader(True)))`, which `apply_init` is given): like d2l it starts a new
   * pass, so the shuffle generator moves on. The caller disposes the batch.
   */
  firstTrainBatch(): Batch {
    this.trainLoader();
    const it = this.train_!.iterate();
    try {
      const r = it.next();
      if (r.done) throw new CliError('the training set has no images');
      return r.value;
    } finally {
      it.return();
    }
  }

  /** A pass over the validation set, in order. */
  valLoader(): YieldingBatches {
    this.val_ ??= new DataLoader(this.val, { ...this.#loaderOptions(false), shuffle: false, numWorkers: 1, generator: new Generator(0) });
    return new YieldingBatches(this.val_);
  }
}

/** How often a pass gives the event loop a turn (ms). */
const YIELD_EVERY_MS = 50;

/**
 * One pass over a loader that gives the event loop a turn every 50 ms. When the workers keep
 * ahead, each batch is ready at once and the training loop only awaits resolved promises
 * (microtasks), which would starve timers and sockets: the dashboard's HTTP server, Ctrl-C.
 */
export class YieldingBatches implements AsyncIterable<Batch> {
  constructor(private readonly loader: DataLoader) {}

  /** Batches in the pass (the trainer's progress and ETA use it). */
  get length(): number {
    return this.loader.length;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Batch> {
    let last = performance.now();
    for await (const batch of this.loader) {
      if (performance.now() - last >= YIELD_EVERY_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        last = performance.now();
      }
      yield batch;
    }
  }
}

function firstN(ds: Dataset, n: number | null): Dataset {
  if (n === null || n >= ds.length) return ds;
  return ds.subset(Int32Array.from({ length: n }, (_, i) => i));
}

/**
 * Resolves a `--data` value: `fashion-mnist`, or an existing folder (made absolute). A missing
 * folder is a one-line error.
 */
export function resolveDataArg(value: string): string {
  if (value === FASHION_MNIST) return value;
  const dir = resolve(value);
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new CliError(`--data ${value}: no such folder (expected '${FASHION_MNIST}' or a folder with one sub-folder per class)`);
  }
  if (!isDir) throw new CliError(`--data ${value}: not a folder (expected '${FASHION_MNIST}' or a folder with one sub-folder per class)`);
  return dir;
}

/**
 * Loads the data a config describes. Library errors (missing IDX files, unreadable images) become
 * one-line `CliError`s.
 * @example const data = await loadData({ data: 'fashion-mnist', batchSize: 128, resize: [28, 28], seed: 0, limitTrain: null, limitVal: null });
 */
export async function loadData(config: DataConfig): Promise<CliData> {
  const augment = parseAugment(config.augment ?? 'none', config.resize).transforms;
  try {
    if (config.data === FASHION_MNIST) {
      const fm = FashionMNIST({ batchSize: config.batchSize, resize: config.resize, seed: config.seed, augment });
      return new CliData(
        firstN(fm.train, config.limitTrain),
        firstN(fm.val, config.limitVal),
        fm.classNames,
        { channels: 1, antialias: false },
        config,
      );
    }
    const folder = await ImageFolder({ root: config.data, resize: config.resize, seed: config.seed, batchSize: config.batchSize, augment });
    if (folder.train.length === 0) throw new CliError(`--data ${config.data}: no training images after the validation split`);
    return new CliData(
      firstN(folder.train, config.limitTrain),
      firstN(folder.val, config.limitVal),
      folder.classNames,
      { channels: folder.inputShape[0], antialias: true },
      config,
    );
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`cannot load data '${config.data}': ${(e as Error).message}`);
  }
}

/** The validation images alone (what `eval` needs), with the class names. */
export interface ValidationData {
  /** Validation samples (after `limitVal`). */
  val: Dataset;
  /** Class names by index. */
  classNames: readonly string[];
  /** The loader over `val`, in order. */
  loader: DataLoader;
}

/**
 * Loads only the validation split a config describes: for Fashion-MNIST the 10,000 test images
 * (the training file is not read), resized as `FashionMNIST` resizes them; for an image folder the
 * same seeded split as training.
 * @example const { loader } = await loadValidation(config);
 */
export async function loadValidation(config: DataConfig): Promise<ValidationData> {
  let val: Dataset;
  let classNames: readonly string[];
  if (config.data === FASHION_MNIST) {
    try {
      const s = loadFashionMnistSplit('test', undefined, { shared: true });
      // The pipeline of FashionMNIST's validation split: bilinear resize without antialiasing.
      val = Dataset.fromArrays({ pixels: s.images, labels: s.labels, shape: [s.n, 1, s.height, s.width] }).withPipeline({
        resize: config.resize,
        antialias: false,
      });
    } catch (e) {
      throw new CliError(`cannot load data '${config.data}': ${(e as Error).message}`);
    }
    classNames = FASHION_MNIST_LABELS;
  } else {
    const all = await loadData({ ...config, limitTrain: 1 });
    val = all.val;
    classNames = all.classNames;
  }
  val = firstN(val, config.limitVal);
  const loader = new DataLoader(val, { batchSize: config.batchSize, shuffle: false, numWorkers: 1, generator: new Generator(0) });
  return { val, classNames, loader };
}
