/**
 * `Dataset`: samples (in memory or image files), an optional subset, and a per-sample pipeline
 * (resize, augmentations, transforms). A Dataset is a serializable description that the
 * `DataLoader`'s worker threads rebuild without copying the pixels (they live in
 * SharedArrayBuffers).
 */
import type { Generator } from '../tensor/random.js';
import {
  BatchPreparer,
  datasetLength,
  isRandomPipeline,
  sampleShapeOf,
  type ArraySource,
  type DatasetSpec,
  type FileSource,
  type PipelineSpec,
  type PixelArray,
} from './pipeline.js';
import type { Transform } from './transforms.js';

/** A resize target: one number for a square, or [height, width]. */
export type ResizeSpec = number | readonly [number, number];

/** Normalizes a resize option to [h, w] (or null). */
export function resizeTarget(resize: ResizeSpec | undefined | null): [number, number] | null {
  if (resize === undefined || resize === null) return null;
  const r: [number, number] = typeof resize === 'number' ? [resize, resize] : [resize[0], resize[1]];
  if (!r.every((v) => Number.isInteger(v) && v > 0)) throw new Error(`resize must be positive integers, got ${r.join('x')}`);
  return r;
}

/** Options of `Dataset.withPipeline`; omitted fields keep their current value. */
export interface PipelineOptions {
  /** Bilinear resize to this size (PyTorch's align_corners=False), or null for none. */
  resize?: ResizeSpec | null;
  /** Antialias when downsampling (as PyTorch's antialias=True / PIL). */
  antialias?: boolean;
  /** Random augmentations (randomCrop, horizontalFlip...), applied after the resize. */
  augment?: readonly Transform[];
  /** Deterministic transforms (normalize), applied last. */
  transforms?: readonly Transform[];
}

/** Arrays for `Dataset.fromArrays`. */
export interface ArrayDatasetInit {
  /** [n, C, H, W] pixels, planar per sample. */
  pixels: PixelArray;
  /** Class index per sample. */
  labels: Int32Array | readonly number[];
  /** [n, C, H, W]. */
  shape: readonly [number, number, number, number];
  /** Pixels are divided by this (default 255 for Uint8Array, 65535 for Uint16Array, 1 for floats). */
  maxValue?: number;
}

function toShared<T extends PixelArray | Int32Array>(a: T): T {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const Ctor = a.constructor as new (b: SharedArrayBuffer) => T;
  const out = new Ctor(new SharedArrayBuffer(a.byteLength));
  (out as unknown as { set(x: ArrayLike<number>): void }).set(a);
  return out;
}

const NO_PIPELINE: PipelineSpec = { size: null, antialias: false, augment: [], transforms: [] };

function makePipeline(p: PipelineSpec, opts: PipelineOptions): PipelineSpec {
  return {
    size: opts.resize === undefined ? p.size : resizeTarget(opts.resize),
    antialias: opts.antialias ?? p.antialias,
    augment: opts.augment === undefined ? p.augment : [...opts.augment],
    transforms: opts.transforms === undefined ? p.transforms : [...opts.transforms],
  };
}

/**
 * Samples with labels and a per-sample pipeline. Build one with `Dataset.fromArrays`, or get one
 * from `FashionMNIST` / `ImageFolder` (`.train`, `.val`). Immutable: `subset` and `withPipeline`
 * return new datasets that share the pixels.
 */
export class Dataset {
  /** The serializable description (what worker threads receive). */
  readonly spec: DatasetSpec;
  /** [C, H, W] of every sample after the pipeline. */
  readonly sampleShape: [number, number, number];
  private preparer: BatchPreparer | null = null;

  /** Wraps a spec (validating that all samples come out with one shape). */
  constructor(spec: DatasetSpec) {
    this.spec = spec;
    this.sampleShape = sampleShapeOf(spec);
  }

  /**
   * A dataset over in-memory arrays (copied once into shared memory unless they already are).
   * @example Dataset.fromArrays({ pixels: u8, labels, shape: [n, 1, 28, 28] })
   */
  static fromArrays(init: ArrayDatasetInit): Dataset {
    const [n, c, h, w] = init.shape;
    if (![n, c, h, w].every((v) => Number.isInteger(v) && v >= 0) || c === 0 || h === 0 || w === 0) {
      throw new Error(`Dataset.fromArrays: bad shape [${init.shape.join(', ')}]`);
    }
    if (init.pixels.length !== n * c * h * w) {
      throw new Error(`Dataset.fromArrays: ${init.pixels.length} pixels do not fill [${init.shape.join(', ')}]`);
    }
    if (init.labels.length !== n) throw new Error(`Dataset.fromArrays: ${init.labels.length} labels for ${n} samples`);
    const divisor =
      init.maxValue ?? (init.pixels instanceof Uint8Array ? 255 : init.pixels instanceof Uint16Array ? 65535 : 1);
    if (!(divisor > 0)) throw new Error(`Dataset.fromArrays: maxValue must be > 0, got ${divisor}`);
    const labels = toShared(init.labels instanceof Int32Array ? init.labels : Int32Array.from(init.labels));
    const source: ArraySource = {
      kind: 'array',
      pixels: toShared(init.pixels),
      labels,
      n,
      channels: c,
      height: h,
      width: w,
      divisor,
    };
    return new Dataset({ source, indices: null, pipeline: NO_PIPELINE });
  }

  /** A dataset decoding image files on demand (used by `ImageFolder` with `cache: 'none'`). */
  static fromFiles(source: FileSource, pipeline: PipelineOptions = {}): Dataset {
    return new Dataset({ source, indices: null, pipeline: makePipeline(NO_PIPELINE, pipeline) });
  }

  /** Number of samples. */
  get length(): number {
    return datasetLength(this.spec);
  }

  /** True when the pipeline has random augmentations (so each epoch differs). */
  get isRandom(): boolean {
    return isRandomPipeline(this.spec.pipeline);
  }

  /** True when samples are in memory (so they can be prepared synchronously). */
  get inMemory(): boolean {
    return this.spec.source.kind === 'array';
  }

  /** The label of every sample, in dataset order. */
  labels(): Int32Array {
    const src = this.spec.source.labels;
    const idx = this.spec.indices;
    return idx === null ? Int32Array.from(src) : Int32Array.from(idx, (i) => src[i]!);
  }

  /**
   * The samples at `indices` (positions in this dataset), in that order.
   * @example ds.subset([0, 1, 2])
   */
  subset(indices: ArrayLike<number>): Dataset {
    const n = this.length;
    const idx = new Int32Array(new SharedArrayBuffer(indices.length * 4));
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k]!;
      if (!Number.isInteger(i) || i < 0 || i >= n) throw new Error(`Dataset.subset: index ${i} is outside 0..${n - 1}`);
      idx[k] = this.spec.indices === null ? i : this.spec.indices[i]!;
    }
    return new Dataset({ ...this.spec, indices: idx });
  }

  /**
   * The same samples with another pipeline (omitted options keep their value).
   * @example ds.withPipeline({ resize: 224, transforms: [normalize(0.286, 0.353)] })
   */
  withPipeline(opts: PipelineOptions): Dataset {
    return new Dataset({ ...this.spec, pipeline: makePipeline(this.spec.pipeline, opts) });
  }

  /**
   * Sample `i` after the pipeline, as a planar float array of `sampleShape`. Random transforms
   * draw a seed from `generator` (required when the pipeline is random). In-memory datasets only.
   */
  get(i: number, generator?: Generator): { x: Float32Array; y: number } {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new Error(`Dataset.get: index ${i} is outside 0..${this.length - 1}`);
    if (this.isRandom && generator === undefined) throw new Error('Dataset.get: this pipeline is random; pass a generator');
    this.preparer ??= new BatchPreparer(this.spec);
    const [c, h, w] = this.sampleShape;
    const x = new Float32Array(c * h * w);
    const y = new Int32Array(1);
    this.preparer.prepareSync([i], generator?.nextUint32() ?? 0, x, y);
    return { x, y: y[0]! };
  }
}
