/**
 * Locating and loading the raw Fashion-MNIST arrays from Debian's `dataset-fashion-mnist` package
 * (or another folder holding the four IDX files, gzipped or not).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readIdx, type ReadIdxOptions } from './idx.js';

/** Debian's install location. */
export const DEFAULT_FASHION_MNIST_ROOT = '/usr/share/datasets/fashion-mnist';

/** Environment variable that overrides the default root. */
export const FASHION_MNIST_ENV = 'CONVNET_FASHION_MNIST';

/** The text labels of the 10 classes, in label order (as d2l's `text_labels`). */
export const FASHION_MNIST_LABELS = [
  't-shirt',
  'trouser',
  'pullover',
  'dress',
  'coat',
  'sandal',
  'shirt',
  'sneaker',
  'bag',
  'ankle boot',
] as const;

/** Images and labels read from a pair of IDX files. */
export interface IdxImageSet {
  /** Pixels, [n, height, width] row-major (0..255 for Fashion-MNIST). */
  images: Uint8Array;
  /** Class indices 0..numClasses-1. */
  labels: Int32Array;
  /** Number of images. */
  n: number;
  /** Image height. */
  height: number;
  /** Image width. */
  width: number;
}

/** One split of Fashion-MNIST as raw arrays. */
export type FashionMnistSplit = IdxImageSet;

/** The root folder: the option, else $CONVNET_FASHION_MNIST, else Debian's location. */
export function fashionMnistRoot(root?: string): string {
  const env = process.env[FASHION_MNIST_ENV];
  return root ?? (env !== undefined && env !== '' ? env : DEFAULT_FASHION_MNIST_ROOT);
}

function find(root: string, base: string): string {
  for (const name of [`${base}.gz`, base]) {
    const p = join(root, name);
    if (existsSync(p)) return p;
  }
  throw new Error(
    `Fashion-MNIST file ${base}(.gz) not found in ${root}. Install Debian's package ` +
      `(sudo apt-get install dataset-fashion-mnist, which puts the files in ${DEFAULT_FASHION_MNIST_ROOT}), ` +
      `or point the root option or the ${FASHION_MNIST_ENV} environment variable at a folder holding ` +
      'train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (.gz or raw).',
  );
}

/**
 * Reads an image file ([n, h, w] uint8) and a label file ([n] uint8) and checks that they agree:
 * types, ranks, counts, and every label below `numClasses`.
 * @example readIdxImageSet('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 10)
 */
export function readIdxImageSet(
  imagesPath: string,
  labelsPath: string,
  numClasses: number,
  opts: ReadIdxOptions = {},
): IdxImageSet {
  const img = readIdx(imagesPath, opts);
  const lbl = readIdx(labelsPath, { ...opts, shared: false });
  if (img.type !== 'uint8' || img.shape.length !== 3) {
    throw new Error(`${imagesPath}: expected uint8 images of shape [n, h, w], got ${img.type} [${img.shape.join(', ')}]`);
  }
  if (lbl.type !== 'uint8' || lbl.shape.length !== 1) {
    throw new Error(`${labelsPath}: expected uint8 labels of shape [n], got ${lbl.type} [${lbl.shape.join(', ')}]`);
  }
  if (img.shape[0] !== lbl.shape[0]) {
    throw new Error(`${imagesPath} has ${img.shape[0]} images but ${labelsPath} has ${lbl.shape[0]} labels`);
  }
  const src = lbl.data as Uint8Array;
  const labels = opts.shared ? new Int32Array(new SharedArrayBuffer(src.length * 4)) : new Int32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const l = src[i]!;
    if (l >= numClasses) throw new Error(`${labelsPath}: label ${l} at index ${i} is outside 0..${numClasses - 1}`);
    labels[i] = l;
  }
  return { images: img.data as Uint8Array, labels, n: img.shape[0]!, height: img.shape[1]!, width: img.shape[2]! };
}

/**
 * Loads the train (60k) or test (10k) split, validating that images and labels agree.
 * `opts.shared` allocates the arrays in SharedArrayBuffers (what the worker-backed loader uses).
 * @example const { images, labels } = loadFashionMnistSplit('train');
 */
export function loadFashionMnistSplit(split: 'train' | 'test', root?: string, opts: ReadIdxOptions = {}): FashionMnistSplit {
  const dir = fashionMnistRoot(root);
  const prefix = split === 'train' ? 'train' : 't10k';
  const imgPath = find(dir, `${prefix}-images-idx3-ubyte`);
  const lblPath = find(dir, `${prefix}-labels-idx1-ubyte`);
  return readIdxImageSet(imgPath, lblPath, FASHION_MNIST_LABELS.length, opts);
}
