/**
 * Locating and loading the raw Fashion-MNIST arrays from Debian's `dataset-fashion-mnist` package
 * (or another folder holding the four IDX files).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readIdx } from './idx.js';

/** Debian's install location. */
export const DEFAULT_FASHION_MNIST_ROOT = '/usr/share/datasets/fashion-mnist';

/** The text labels of the 10 classes, in label order. */
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

/** One split of Fashion-MNIST as raw arrays. */
export interface FashionMnistSplit {
  /** Pixels 0..255, [n, 28, 28] row-major. */
  images: Uint8Array;
  /** Class indices 0..9. */
  labels: Int32Array;
  n: number;
  height: number;
  width: number;
}

/** The root folder: the option, else $CONVNET_FASHION_MNIST, else Debian's location. */
export function fashionMnistRoot(root?: string): string {
  return root ?? process.env.CONVNET_FASHION_MNIST ?? DEFAULT_FASHION_MNIST_ROOT;
}

function find(root: string, base: string): string {
  for (const name of [`${base}.gz`, base]) {
    const p = join(root, name);
    if (existsSync(p)) return p;
  }
  throw new Error(
    `Fashion-MNIST file ${base}(.gz) not found in ${root}. Install Debian's package ` +
      '(apt-get install dataset-fashion-mnist) or point CONVNET_FASHION_MNIST / the root option at a folder with the IDX files.',
  );
}

/**
 * Loads the train (60k) or test (10k) split, validating that images and labels agree.
 * @example const { images, labels } = loadFashionMnistSplit('train');
 */
export function loadFashionMnistSplit(split: 'train' | 'test', root?: string): FashionMnistSplit {
  const dir = fashionMnistRoot(root);
  const prefix = split === 'train' ? 'train' : 't10k';
  const imgPath = find(dir, `${prefix}-images-idx3-ubyte`);
  const lblPath = find(dir, `${prefix}-labels-idx1-ubyte`);
  const img = readIdx(imgPath);
  const lbl = readIdx(lblPath);
  if (img.type !== 'uint8' || img.shape.length !== 3) {
    throw new Error(`${imgPath}: expected uint8 images of shape [n, h, w], got ${img.type} [${img.shape.join(', ')}]`);
  }
  if (lbl.type !== 'uint8' || lbl.shape.length !== 1) {
    throw new Error(`${lblPath}: expected uint8 labels of shape [n], got ${lbl.type} [${lbl.shape.join(', ')}]`);
  }
  if (img.shape[0] !== lbl.shape[0]) {
    throw new Error(`${imgPath} has ${img.shape[0]} images but ${lblPath} has ${lbl.shape[0]} labels`);
  }
  const labels = Int32Array.from(lbl.data as Uint8Array);
  const bad = labels.findIndex((l) => l >= FASHION_MNIST_LABELS.length);
  if (bad >= 0) throw new Error(`${lblPath}: label ${labels[bad]} at index ${bad} is outside 0..9`);
  return { images: img.data as Uint8Array, labels, n: img.shape[0]!, height: img.shape[1]!, width: img.shape[2]! };
}
