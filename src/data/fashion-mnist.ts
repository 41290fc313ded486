/**
 * `FashionMNIST`: d2l's `d2l.FashionMNIST(batch_size=64, resize=(28, 28))` in TypeScript.
 * 60000 training and 10000 validation images from Debian's IDX files, pixels scaled to [0, 1],
 * optionally resized (bilinear, PyTorch's align_corners=False; see resize.ts on how this differs
 * from d2l's PIL resize), optionally augmented / normalized.
 */
import { Generator, defaultGenerator } from '../tensor/random.js';
import { Dataset, resizeTarget, type ResizeSpec } from './dataset.js';
import { FASHION_MNIST_LABELS, loadFashionMnistSplit } from './fashion-mnist-files.js';
import { DataLoader } from './loader.js';
import { textLabels, type DataModule } from './module.js';
import type { Transform } from './transforms.js';

/** Options of `FashionMNIST`. */
export interface FashionMNISTOptions {
  /** Samples per batch (default 64, as d2l). */
  batchSize?: number;
  /** Resize to [h, w] (or a square), e.g. 224 for AlexNet/VGG, 96 for ResNet/DenseNet. */
  resize?: ResizeSpec;
  /** Folder with the IDX files (default $CONVNET_FASHION_MNIST, else /usr/share/datasets/fashion-mnist). */
  root?: string;
  /** Worker threads preparing batches (default 1; 0 prepares them on the training thread). */
  numWorkers?: number;
  /** Seed of the shuffle / augmentation generator (default: drawn from the global generator). */
  seed?: number;
  /** Random augmentations of the training split (e.g. randomCrop, horizontalFlip). */
  augment?: readonly Transform[];
  /** Transforms of both splits, applied last (e.g. normalize). */
  transforms?: readonly Transform[];
  /** Drop the last incomplete training batch (default false). */
  dropLast?: boolean;
  /** Batches prepared ahead per worker (default 2). */
  prefetchFactor?: number;
}

/** Fashion-MNIST as a `DataModule` (create it with `FashionMNIST(...)`). */
export class FashionMNISTData implements DataModule {
  /** The 60000 training images. */
  readonly train: Dataset;
  /** The 10000 validation (test) images. */
  readonly val: Dataset;
  /** Samples per batch. */
  readonly batchSize: number;
  /** Image size [h, w] after resizing. */
  readonly resize: [number, number];
  /** 10. */
  readonly numClasses = FASHION_MNIST_LABELS.length;
  /** t-shirt, trouser, pullover, dress, coat, sandal, shirt, sneaker, bag, ankle boot. */
  readonly classNames: readonly string[] = FASHION_MNIST_LABELS;
  /** [1, h, w]. */
  readonly inputShape: [number, number, number];
  /** Generator of the training loader's shuffles (save its state to resume). */
  readonly generator: Generator;
  private readonly opts: FashionMNISTOptions;
  private train_: DataLoader | null = null;
  private val_: DataLoader | null = null;

  /** Loads both splits (about half a second: gunzip of 30 MB). */
  constructor(opts: FashionMNISTOptions = {}) {
    this.opts = opts;
    this.batchSize = opts.batchSize ?? 64;
    const size = resizeTarget(opts.resize) ?? [28, 28];
    this.resize = size;
    const load = (split: 'train' | 'test'): Dataset => {
      const s = loadFashionMnistSplit(split, opts.root, { shared: true });
      return Dataset.fromArrays({ pixels: s.images, labels: s.labels, shape: [s.n, 1, s.height, s.width] });
    };
    const pipeline = { resize: size, antialias: false, transforms: opts.transforms ?? [] };
    this.train = load('train').withPipeline({ ...pipeline, augment: opts.augment ?? [] });
    this.val = load('test').withPipeline(pipeline);
    if (this.train.sampleShape.join() !== this.val.sampleShape.join()) {
      throw new Error(
        `FashionMNIST: augmentations change the image shape (${this.train.sampleShape.join('x')} vs ${this.val.sampleShape.join('x')})`,
      );
    }
    this.inputShape = [...this.train.sampleShape];
    this.generator = new Generator(opts.seed ?? defaultGenerator.nextUint32());
  }

  /** The shuffled training loader (one instance, reused across epochs). */
  trainLoader(): DataLoader {
    this.train_ ??= new DataLoader(this.train, {
      batchSize: this.batchSize,
      shuffle: true,
      dropLast: this.opts.dropLast ?? false,
      numWorkers: this.opts.numWorkers ?? 1,
      prefetchFactor: this.opts.prefetchFactor,
      generator: this.generator,
    });
    return this.train_;
  }

  /** The validation loader, in order. */
  valLoader(): DataLoader {
    this.val_ ??= new DataLoader(this.val, {
      batchSize: this.batchSize,
      shuffle: false,
      numWorkers: this.opts.numWorkers ?? 1,
      prefetchFactor: this.opts.prefetchFactor,
      generator: new Generator(0),
    });
    return this.val_;
  }

  /** d2l's `get_dataloader(train)`. */
  getDataloader(train: boolean): DataLoader {
    return train ? this.trainLoader() : this.valLoader();
  }

  /** Text labels of class indices (d2l's `text_labels`). */
  textLabels(indices: ArrayLike<number> | Iterable<number>): string[] {
    return textLabels(this.classNames, indices);
  }
}

/** Callable with or without `new`, as d2l's `d2l.FashionMNIST(batch_size=128, resize=(224, 224))`. */
export interface FashionMNISTFactory {
  (opts?: FashionMNISTOptions): FashionMNISTData;
  new (opts?: FashionMNISTOptions): FashionMNISTData;
}

/**
 * Fashion-MNIST as a DataModule.
 * @example
 * const data = cn.data.FashionMNIST({ batchSize: 128, resize: [224, 224] });
 * for (const { x, y } of data.getDataloader(true)) { ... } // x: [128, 1, 224, 224]
 */
export const FashionMNIST = function FashionMNIST(opts?: FashionMNISTOptions): FashionMNISTData {
  return new FashionMNISTData(opts);
} as FashionMNISTFactory;

/** The type of `FashionMNIST(...)`'s result. */
export type FashionMNIST = FashionMNISTData;
