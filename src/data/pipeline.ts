/**
 * The per-sample pipeline shared by the main thread and the loader's worker threads: read (or
 * decode) a sample, scale it to [0, 1], resize, augment, transform, and write it into a batch
 * buffer. Everything here is plain data and typed arrays (no tensors, no backend), so a worker
 * can run it from a structured-clone of the `DatasetSpec`; pixel arrays in SharedArrayBuffers are
 * shared, not copied.
 */
import { Generator } from '../tensor/random.js';
import { decodeImage, type DecodeOptions, type ImageInfo } from './decode.js';
import { resizeBilinear } from './resize.js';
import { applyTransform, isRandomTransform, transformShape, type Plane, type Transform } from './transforms.js';

/** Pixel storage of in-memory datasets. */
export type PixelArray = Uint8Array | Uint16Array | Float32Array;

/** Samples held in memory: `n` planar [C, H, W] images back to back, divided by `divisor`. */
export interface ArraySource {
  readonly kind: 'array';
  /** [n, C, H, W] values. */
  readonly pixels: PixelArray;
  /** Class index of each sample. */
  readonly labels: Int32Array;
  readonly n: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  /** Pixels are divided by this (255 for 8-bit, 65535 for 16-bit, 1 for floats). */
  readonly divisor: number;
}

/** Samples decoded from image files on demand (in the loader's workers). */
export interface FileSource {
  readonly kind: 'files';
  /** Absolute paths. */
  readonly files: readonly string[];
  /** Class index of each file. */
  readonly labels: Int32Array;
  /** Header of each file (from `probeImage`). */
  readonly infos: readonly ImageInfo[];
  /** How to convert pixels. */
  readonly decode: DecodeOptions;
}

/** What happens to each sample after reading: resize, augment (random), transforms. */
export interface PipelineSpec {
  /** Resize target [H, W] (bilinear), or null to keep the stored size. */
  readonly size: readonly [number, number] | null;
  /** Antialiased bilinear when downsampling (PyTorch's antialias=True). */
  readonly antialias: boolean;
  /** Random augmentations, applied first. */
  readonly augment: readonly Transform[];
  /** Deterministic transforms (e.g. normalize), applied last. */
  readonly transforms: readonly Transform[];
}

/** A serializable dataset: a source, an optional subset of it, and the pipeline. */
export interface DatasetSpec {
  readonly source: ArraySource | FileSource;
  /** Source index of each dataset position, or null for all samples in order. */
  readonly indices: Int32Array | null;
  readonly pipeline: PipelineSpec;
}

/** The stored [C, H, W] of source sample `i` (files: from the probed header). */
function storedShape(src: ArraySource | FileSource, i: number): [number, number, number] {
  if (src.kind === 'array') return [src.channels, src.height, src.width];
  const info = src.infos[i]!;
  return [src.decode.channels, info.height, info.width];
}

/**
 * The [C, H, W] every sample of the dataset has after the pipeline (throws when samples would
 * differ, e.g. files of different sizes without a resize).
 */
export function sampleShapeOf(spec: DatasetSpec): [number, number, number] {
  const src = spec.source;
  let shape: [number, number, number];
  const count = spec.indices?.length ?? (src.kind === 'array' ? src.n : src.files.length);
  const total = src.kind === 'array' ? src.n : src.files.length;
  if (count === 0 && total === 0) {
    shape = [src.kind === 'array' ? src.channels : src.decode.channels, 0, 0];
  } else {
    shape = storedShape(src, count === 0 ? 0 : spec.indices === null ? 0 : spec.indices[0]!);
  }
  if (spec.pipeline.size !== null) shape = [shape[0], spec.pipeline.size[0], spec.pipeline.size[1]];
  else if (src.kind === 'files') {
    for (let k = 0; k < count; k++) {
      const i = spec.indices === null ? k : spec.indices[k]!;
      const s = storedShape(src, i);
      if (s[1] !== shape[1] || s[2] !== shape[2]) {
        throw new Error(
          `${src.files[i]}: image is ${s[2]}x${s[1]} but ${src.files[spec.indices === null ? 0 : spec.indices[0]!]} is ${shape[2]}x${shape[1]}; ` +
            'pass a resize option to bring images of different sizes to one size',
        );
      }
    }
  }
  for (const t of [...spec.pipeline.augment, ...spec.pipeline.transforms]) shape = transformShape(t, shape);
  return shape;
}

/** True when the pipeline draws random numbers (so batches need a seed). */
export function isRandomPipeline(p: PipelineSpec): boolean {
  return p.augment.some(isRandomTransform) || p.transforms.some(isRandomTransform);
}

/** Number of samples of the dataset. */
export function datasetLength(spec: DatasetSpec): number {
  if (spec.indices !== null) return spec.indices.length;
  return spec.source.kind === 'array' ? spec.source.n : spec.source.files.length;
}

/** The 32-bit seed of batch `b` of an epoch whose seed is `epochSeed` (splitmix-style mixing). */
export function batchSeed(epochSeed: number, b: number): number {
  let z = (epochSeed + Math.imul(b + 1, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** How many files a worker decodes at once (sharp runs them on its own thread pool). */
const DECODE_CONCURRENCY = 4;

/**
 * Prepares batches of one dataset into caller-provided buffers, reusing scratch memory.
 * One instance per thread.
 */
export class BatchPreparer {
  /** The final [C, H, W] of every sample. */
  readonly sampleShape: [number, number, number];
  private readonly sampleSize: number;
  private readonly random: boolean;
  private bufRead = new Float32Array(0);
  private bufResize = new Float32Array(0);
  private bufCrop = new Float32Array(0);
  private bufCrop2 = new Float32Array(0);

  constructor(readonly spec: DatasetSpec) {
    this.sampleShape = sampleShapeOf(spec);
    this.sampleSize = this.sampleShape[0] * this.sampleShape[1] * this.sampleShape[2];
    this.random = isRandomPipeline(spec.pipeline);
  }

  /** Source index of dataset position `i`. */
  sourceIndex(i: number): number {
    const idx = this.spec.indices;
    if (idx === null) return i;
    return idx[i]!;
  }

  private readArray(src: ArraySource, i: number): Plane {
    const size = src.channels * src.height * src.width;
    if (this.bufRead.length < size) this.bufRead = new Float32Array(size);
    const out = this.bufRead.subarray(0, size);
    const base = i * size;
    const px = src.pixels;
    const div = src.divisor;
    if (div === 1) out.set(px.subarray(base, base + size));
    else for (let k = 0; k < size; k++) out[k] = px[base + k]! / div;
    return { data: out, c: src.channels, h: src.height, w: src.width };
  }

  /** A scratch buffer of at least `n` floats that does not alias `img`. */
  private scratchFor(img: Plane, n: number): Float32Array {
    if (this.bufCrop.buffer !== img.data.buffer) {
      if (this.bufCrop.length < n) this.bufCrop = new Float32Array(n);
      return this.bufCrop;
    }
    if (this.bufCrop2.length < n) this.bufCrop2 = new Float32Array(n);
    return this.bufCrop2;
  }

  /** Resize, augment, transform `plane` and write it at sample slot `k` of `outX`. */
  private finish(plane: Plane, rng: Generator | null, outX: Float32Array, k: number, what: () => string): void {
    const p = this.spec.pipeline;
    let img = plane;
    if (p.size !== null && (img.h !== p.size[0] || img.w !== p.size[1])) {
      const n = img.c * p.size[0] * p.size[1];
      if (this.bufResize.length < n) this.bufResize = new Float32Array(n);
      const out = this.bufResize.subarray(0, n);
      resizeBilinear(img.data, img.c, img.h, img.w, p.size[0], p.size[1], { antialias: p.antialias, out });
      img = { data: out, c: img.c, h: p.size[0], w: p.size[1] };
    }
    for (const t of [...p.augment, ...p.transforms]) {
      const scratch = t.kind === 'randomCrop' ? this.scratchFor(img, img.c * t.size[0] * t.size[1]) : undefined;
      img = applyTransform(t, img, rng, scratch);
    }
    const [c, h, w] = this.sampleShape;
    if (img.c !== c || img.h !== h || img.w !== w) {
      throw new Error(`${what()}: sample is ${img.c}x${img.h}x${img.w} after the pipeline, expected ${c}x${h}x${w}`);
    }
    outX.set(img.data.subarray(0, this.sampleSize), k * this.sampleSize);
  }

  /**
   * Fills `outX` ([B, C, H, W]) and `outY` ([B]) with dataset positions `positions` (in order),
   * synchronously. Random transforms draw from `Generator(seed)`. Only for in-memory sources.
   */
  prepareSync(positions: ArrayLike<number>, seed: number, outX: Float32Array, outY: Int32Array): void {
    const src = this.spec.source;
    if (src.kind !== 'array') {
      throw new Error(
        'this dataset decodes image files per batch, which is asynchronous: use numWorkers >= 1 ' +
          "(or 'for await'), or cache the images in memory (cache: 'memory')",
      );
    }
    const rng = this.random ? new Generator(seed) : null;
    for (let k = 0; k < positions.length; k++) {
      const i = this.sourceIndex(positions[k]!);
      this.finish(this.readArray(src, i), rng, outX, k, () => `sample ${i}`);
      outY[k] = src.labels[i]!;
    }
  }

  /** As `prepareSync`, also for file sources (decodes up to a few files concurrently). */
  async prepare(positions: ArrayLike<number>, seed: number, outX: Float32Array, outY: Int32Array): Promise<void> {
    const src = this.spec.source;
    if (src.kind === 'array') {
      this.prepareSync(positions, seed, outX, outY);
      return;
    }
    const rng = this.random ? new Generator(seed) : null;
    const n = positions.length;
    const pending: (Promise<Plane> | null)[] = new Array(n).fill(null);
    const start = (k: number): void => {
      if (k < n) {
        const i = this.sourceIndex(positions[k]!);
        pending[k] = decodeImage(src.files[i]!, src.decode, src.infos[i]);
        // Avoid unhandled-rejection noise for decodes still in flight when an earlier one fails.
        pending[k]!.catch(() => undefined);
      }
    };
    for (let k = 0; k < Math.min(DECODE_CONCURRENCY, n); k++) start(k);
    for (let k = 0; k < n; k++) {
      const i = this.sourceIndex(positions[k]!);
      const plane = await pending[k]!;
      pending[k] = null;
      start(k + DECODE_CONCURRENCY);
      this.finish(plane, rng, outX, k, () => src.files[i]!);
      outY[k] = src.labels[i]!;
    }
  }
}
