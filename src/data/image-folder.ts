/**
 * `ImageFolder`: the user's own images, one sub-folder per class (PyTorch's ImageFolder
 * convention: class folders sorted by name give the class indices; files are found recursively,
 * sorted, by extension .png .tif .tiff .jpg .jpeg, case-insensitive).
 *
 * Pixels are read at full depth with sharp: 8-bit / 16-bit grey or RGB, scaled to [0, 1] by the
 * type's maximum (or kept as counts with `rawValues`). Images are resized (bilinear, antialiased
 * when shrinking by default) to `resize`, which is required when sizes differ.
 * With `channels: 1`, colour images become libvips' grey (Rec. 709 luminance in linear light,
 * re-encoded to sRGB), which differs slightly from PIL's `convert('L')` (601 weights on gamma values).
 *
 * Decoding strategy (`cache`):
 * - `'memory'`: every image is decoded (and resized) once, up front, into one shared float32
 *   array; loaders then only batch, augment and normalize. Fast and fully validated at load time.
 * - `'none'`: only headers are read up front; the loader's worker threads decode each batch's
 *   files (a few at a time), so memory stays small for folders of large micrographs. Needs
 *   `numWorkers >= 1` (or `for await`). A file that is corrupt past its header fails at batch time,
 *   with its name.
 * - `'auto'` (default): `'memory'` when the decoded float32 images fit in `maxCacheBytes`.
 *
 * Bad input (an empty class folder, an unreadable or corrupt image, a channel count or size
 * that differs from the others) throws an error naming the file or folder, or, with
 * `onError: 'skip'`, is skipped with a warning.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Generator, defaultGenerator } from '../tensor/random.js';
import { Dataset, resizeTarget, type ResizeSpec } from './dataset.js';
import { decodeImage, probeImage, type ImageInfo } from './decode.js';
import { DataLoader } from './loader.js';
import { textLabels, type DataModule } from './module.js';
import { resizeBilinear } from './resize.js';
import type { Transform } from './transforms.js';

/** Extensions `ImageFolder` reads (case-insensitive). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.png', '.tif', '.tiff', '.jpg', '.jpeg'];

/** Options of `ImageFolder`. */
export interface ImageFolderOptions {
  /** One folder with a sub-folder per class, split into train/val by `valFraction`. */
  root?: string;
  /** Training folder (with `valRoot`, instead of `root`). */
  trainRoot?: string;
  /** Validation folder with the same class sub-folders as `trainRoot`. */
  valRoot?: string;
  /** Share of each class held out for validation with `root` (default 0.2). */
  valFraction?: number;
  /** Seed of the train/val split (default 0) and of the training loader's generator (default: global). */
  seed?: number;
  /** Samples per batch (default 64). */
  batchSize?: number;
  /** Resize every image to [h, w] (or a square); required when image sizes differ. */
  resize?: ResizeSpec;
  /** Antialias when downsampling (default true, like torchvision's Resize on PIL images). */
  antialias?: boolean;
  /** Channels: 1 (grey), 3 (RGB), or 'auto' = as the files, which must agree (default 'auto'). */
  channels?: 1 | 3 | 'auto';
  /** Keep integer counts (0..255 / 0..65535) instead of scaling to [0, 1] (default false). */
  rawValues?: boolean;
  /** What to do with bad files and empty classes: throw (default) or skip with a warning. */
  onError?: 'throw' | 'skip';
  /** Receives warnings (default `process.emitWarning`). */
  onWarning?: (message: string) => void;
  /** Decoding strategy (see the module docs; default 'auto'). */
  cache?: 'auto' | 'memory' | 'none';
  /** Largest decoded size kept in memory with cache 'auto' (default 2 GiB). */
  maxCacheBytes?: number;
  /** Worker threads preparing batches (default 1). */
  numWorkers?: number;
  /** Random augmentations of the training split. */
  augment?: readonly Transform[];
  /** Transforms of both splits, applied last (e.g. normalize). */
  transforms?: readonly Transform[];
  /** Drop the last incomplete training batch (default false). */
  dropLast?: boolean;
  /** Accepted extensions (default IMAGE_EXTENSIONS). */
  extensions?: readonly string[];
}

interface Entry {
  file: string;
  label: number;
  split: 'train' | 'val';
  info?: ImageInfo;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const run = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return out;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Entries of a folder sorted as Python's sorted() (by code unit, no locale). */
function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  } catch (e) {
    throw new Error(`${dir}: cannot list folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

function classFolders(root: string): string[] {
  if (!isDir(root)) throw new Error(`ImageFolder: ${root} is not a folder`);
  const names = listDir(root).filter((n) => !n.startsWith('.') && isDir(join(root, n)));
  if (names.length === 0) throw new Error(`ImageFolder: ${root} has no class sub-folders (expected root/<class>/<image>)`);
  return names;
}

function imageFiles(dir: string, exts: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of listDir(d)) {
      if (name.startsWith('.')) continue;
      const p = join(d, name);
      if (isDir(p)) walk(p);
      else if (exts.some((e) => name.toLowerCase().endsWith(e))) out.push(p);
    }
  };
  walk(dir);
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The user's image folders as a `DataModule` (create it with `await ImageFolder(...)`). */
export class ImageFolderData implements DataModule {
  /** Training samples. */
  readonly train: Dataset;
  /** Validation samples. */
  readonly val: Dataset;
  /** Class folder names, sorted; the class index is the position. */
  readonly classNames: readonly string[];
  /** Number of classes. */
  readonly numClasses: number;
  /** [C, H, W] of one input image. */
  readonly inputShape: [number, number, number];
  /** Samples per batch. */
  readonly batchSize: number;
  /** Files of the training samples, in dataset order. */
  readonly trainFiles: readonly string[];
  /** Files of the validation samples, in dataset order. */
  readonly valFiles: readonly string[];
  /** Files skipped with `onError: 'skip'`, with the reason. */
  readonly skipped: readonly { file: string; reason: string }[];
  /** Whether images were decoded into memory up front. */
  readonly cached: boolean;
  /** Generator of the training loader's shuffles (save its state to resume). */
  readonly generator: Generator;
  private readonly opts: ImageFolderOptions;
  private train_: DataLoader | null = null;
  private val_: DataLoader | null = null;

  /** @internal Use `ImageFolder(...)`. */
  constructor(init: {
    train: Dataset;
    val: Dataset;
    classNames: string[];
    trainFiles: string[];
    valFiles: string[];
    skipped: { file: string; reason: string }[];
    cached: boolean;
    opts: ImageFolderOptions;
  }) {
    this.train = init.train;
    this.val = init.val;
    this.classNames = init.classNames;
    this.numClasses = init.classNames.length;
    this.trainFiles = init.trainFiles;
    this.valFiles = init.valFiles;
    this.skipped = init.skipped;
    this.cached = init.cached;
    this.opts = init.opts;
    this.batchSize = init.opts.batchSize ?? 64;
    this.inputShape = [...this.train.sampleShape];
    this.generator = new Generator(init.opts.seed ?? defaultGenerator.nextUint32());
  }

  /** The shuffled training loader (one instance, reused across epochs). */
  trainLoader(): DataLoader {
    this.train_ ??= new DataLoader(this.train, {
      batchSize: this.batchSize,
      shuffle: true,
      dropLast: this.opts.dropLast ?? false,
      numWorkers: this.opts.numWorkers ?? 1,
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
      generator: new Generator(0),
    });
    return this.val_;
  }

  /** d2l's `get_dataloader(train)`. */
  getDataloader(train: boolean): DataLoader {
    return train ? this.trainLoader() : this.valLoader();
  }

  /** Class names of class indices. */
  textLabels(indices: ArrayLike<number> | Iterable<number>): string[] {
    return textLabels(this.classNames, indices);
  }
}

/**
 * Loads folders of images (one sub-folder per class) as a DataModule.
 * @example
 * const data = await cn.data.ImageFolder({ root: 'micrographs', resize: 224, valFraction: 0.2, seed: 0 });
 * for (const { x, y } of data.trainLoader()) { ... } // x: [64, 1, 224, 224]
 */
export async function ImageFolder(opts: ImageFolderOptions): Promise<ImageFolderData> {
  const onError = opts.onError ?? 'throw';
  const warn = opts.onWarning ?? ((m: string) => process.emitWarning(m, 'ImageFolderWarning'));
  const exts = (opts.extensions ?? IMAGE_EXTENSIONS).map((e) => e.toLowerCase());
  const skipped: { file: string; reason: string }[] = [];
  const bad = (file: string, reason: string): void => {
    if (onError === 'throw') throw new Error(reason);
    skipped.push({ file, reason });
    warn(`ImageFolder: skipping ${file}: ${reason}`);
  };
  const size = resizeTarget(opts.resize);
  const antialias = opts.antialias ?? true;

  // ---- 1. folders and files ----------------------------------------------------------------
  let roots: { root: string; split: 'train' | 'val' }[];
  if (opts.trainRoot !== undefined || opts.valRoot !== undefined) {
    if (opts.trainRoot === undefined || opts.valRoot === undefined) throw new Error('ImageFolder: give both trainRoot and valRoot');
    if (opts.root !== undefined) throw new Error('ImageFolder: give either root or trainRoot/valRoot, not both');
    roots = [
      { root: resolve(opts.trainRoot), split: 'train' },
      { root: resolve(opts.valRoot), split: 'val' },
    ];
  } else {
    if (opts.root === undefined) throw new Error('ImageFolder: the root option is required');
    roots = [{ root: resolve(opts.root), split: 'train' }];
  }
  const valFraction = opts.valFraction ?? 0.2;
  if (!(valFraction >= 0 && valFraction < 1)) throw new Error(`ImageFolder: valFraction must be in [0, 1), got ${valFraction}`);
  const classNames = classFolders(roots[0]!.root);
  const entries: Entry[] = [];
  for (const { root, split } of roots) {
    const names = split === 'train' ? classNames : classFolders(root);
    if (names.join('\n') !== classNames.join('\n')) {
      throw new Error(
        `ImageFolder: ${root} has class folders [${names.join(', ')}] but ${roots[0]!.root} has [${classNames.join(', ')}]`,
      );
    }
    classNames.forEach((name, label) => {
      const dir = join(root, name);
      const files = imageFiles(dir, exts);
      if (files.length === 0) {
        const msg = `ImageFolder: class folder ${dir} has no image files (${exts.join(' ')})`;
        if (onError === 'throw') throw new Error(msg);
        warn(`${msg}; the class keeps its index but has no samples`);
      }
      for (const file of files) entries.push({ file, label, split });
    });
  }

  // ---- 2. headers: readable, channel count, size ------------------------------------------
  const probed = await mapLimit(entries, 16, async (e) => {
    try {
      return await probeImage(e.file);
    } catch (err) {
      return err as Error;
    }
  });
  let ok: Entry[] = [];
  entries.forEach((e, i) => {
    const p = probed[i]!;
    if (p instanceof Error) bad(e.file, p.message);
    else ok.push({ ...e, info: p });
  });
  let channels: 1 | 3;
  if (opts.channels === undefined || opts.channels === 'auto') {
    const first = ok[0];
    if (first === undefined) throw new Error(`ImageFolder: no readable images under ${roots.map((r) => r.root).join(' and ')}`);
    const c = first.info!.channels;
    if (c !== 1 && c !== 3) throw new Error(`${first.file}: ${c} colour channels; pass channels: 1 or 3 to convert`);
    channels = c;
    ok = ok.filter((e) => {
      if (e.info!.channels === channels) return true;
      bad(
        e.file,
        `${e.file}: has ${e.info!.channels} channel(s) but ${first.file} has ${channels}; images must agree ` +
          '(pass channels: 1 to convert all to grey, or channels: 3 for RGB)',
      );
      return false;
    });
  } else {
    channels = opts.channels;
  }
  if (size === null && ok.length > 0) {
    const f = ok[0]!;
    ok = ok.filter((e) => {
      if (e.info!.width === f.info!.width && e.info!.height === f.info!.height) return true;
      bad(
        e.file,
        `${e.file}: is ${e.info!.width}x${e.info!.height} but ${f.file} is ${f.info!.width}x${f.info!.height}; ` +
          'pass a resize option to bring images of different sizes to one size',
      );
      return false;
    });
  }
  if (ok.length === 0) throw new Error(`ImageFolder: no usable images under ${roots.map((r) => r.root).join(' and ')}`);

  // ---- 3. decode into memory, or describe the files -------------------------------------------
  const [H, W] = size ?? [ok[0]!.info!.height, ok[0]!.info!.width];
  const sampleSize = channels * H * W;
  const cacheMode = opts.cache ?? 'auto';
  const cached = cacheMode === 'memory' || (cacheMode === 'auto' && ok.length * sampleSize * 4 <= (opts.maxCacheBytes ?? 2 ** 31));
  const decodeOpts = { channels, rawValues: opts.rawValues ?? false };
  let all: Dataset;
  if (cached) {
    const pixels = new Float32Array(new SharedArrayBuffer(ok.length * sampleSize * 4));
    const decoded = await mapLimit(ok, 8, async (e, i) => {
      try {
        const img = await decodeImage(e.file, decodeOpts, e.info);
        const dst = pixels.subarray(i * sampleSize, (i + 1) * sampleSize);
        if (img.h === H && img.w === W) dst.set(img.data);
        else resizeBilinear(img.data, channels, img.h, img.w, H, W, { antialias, out: dst });
        return null;
      } catch (err) {
        return err as Error;
      }
    });
    const keep: number[] = [];
    decoded.forEach((err, i) => {
      if (err === null) keep.push(i);
      else bad(ok[i]!.file, err.message);
    });
    const labels = Int32Array.from(ok, (e) => e.label);
    all = Dataset.fromArrays({ pixels, labels, shape: [ok.length, channels, H, W], maxValue: 1 });
    if (keep.length !== ok.length) {
      all = all.subset(keep);
      ok = keep.map((i) => ok[i]!);
    }
  } else {
    all = Dataset.fromFiles({
      kind: 'files',
      files: ok.map((e) => e.file),
      labels: Int32Array.from(ok, (e) => e.label),
      infos: ok.map((e) => e.info!),
      decode: decodeOpts,
    }, { resize: size, antialias });
  }

  // ---- 4. split ----------------------------------------------------------------------------
  let trainIdx: number[] = [];
  let valIdx: number[] = [];
  if (roots.length === 2) {
    ok.forEach((e, i) => (e.split === 'train' ? trainIdx : valIdx).push(i));
  } else {
    // Stratified: each class gives round(n_c * valFraction) random samples to validation.
    const g = new Generator(opts.seed ?? 0);
    const byClass = classNames.map(() => [] as number[]);
    ok.forEach((e, i) => byClass[e.label]!.push(i));
    for (const members of byClass) {
      const perm = g.permutation(members.length);
      const nVal = Math.round(members.length * valFraction);
      perm.forEach((p, k) => (k < nVal ? valIdx : trainIdx).push(members[p]!));
    }
    trainIdx.sort((a, b) => a - b);
    valIdx.sort((a, b) => a - b);
  }
  const pipeline = { transforms: opts.transforms ?? [] };
  const train = all.subset(trainIdx).withPipeline({ ...pipeline, augment: opts.augment ?? [] });
  const val = all.subset(valIdx).withPipeline(pipeline);
  if (train.sampleShape.join() !== val.sampleShape.join()) {
    throw new Error(`ImageFolder: augmentations change the image shape (${train.sampleShape.join('x')} vs ${val.sampleShape.join('x')})`);
  }
  return new ImageFolderData({
    train,
    val,
    classNames,
    trainFiles: trainIdx.map((i) => ok[i]!.file),
    valFiles: valIdx.map((i) => ok[i]!.file),
    skipped,
    cached,
    opts,
  });
}
