/**
 * Writes the Fashion-MNIST subset the browser example loads (Node; reads Debian's
 * dataset-fashion-mnist IDX files):
 *
 *   node dist/examples/browser/make-data.js [--train 4000] [--test 1000] [--out dist/examples/browser/fashion-subset.bin]
 *
 * Format (little-endian): "CNFM", u32 version 1, u32 nTrain, u32 nTest, u32 rows, u32 cols, then
 * the train images (nTrain·rows·cols bytes, 0..255), the train labels (nTrain bytes), the test
 * images and the test labels. 4000 + 1000 images are 3.9 MB: generated, not committed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadFashionMnistSplit } from '../../src/data/fashion-mnist-files.js';

/** Default output: beside the page in the built example folder. */
export const DEFAULT_OUT = join(dirname(fileURLToPath(import.meta.url)), 'fashion-subset.bin');

/** Writes the first `train` training and `test` test images to `out`; returns the byte count. */
export function writeSubset(out: string, train: number, test: number): number {
  const tr = loadFashionMnistSplit('train');
  const te = loadFashionMnistSplit('test');
  if (train > tr.n || test > te.n) throw new Error(`make-data: at most ${tr.n} train and ${te.n} test images, asked for ${train} and ${test}`);
  const px = tr.height * tr.width;
  const header = new Uint32Array([0, 1, train, test, tr.height, tr.width]);
  new Uint8Array(header.buffer).set([0x43, 0x4e, 0x46, 0x4d], 0); // "CNFM"
  const parts = [
    new Uint8Array(header.buffer),
    tr.images.subarray(0, train * px),
    Uint8Array.from(tr.labels.subarray(0, train)),
    te.images.subarray(0, test * px),
    Uint8Array.from(te.labels.subarray(0, test)),
  ];
  const bytes = parts.reduce((s, p) => s + p.length, 0);
  const buf = new Uint8Array(bytes);
  let off = 0;
  for (const p of parts) {
    buf.set(p, off);
    off += p.length;
  }
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, buf);
  return bytes;
}

function int(flag: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`make-data: ${flag} needs a positive integer, got '${v}'`);
  return n;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const a = process.argv.slice(2);
  let train = 4000;
  let test = 1000;
  let out = DEFAULT_OUT;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--train') train = int('--train', a[++i]);
    else if (a[i] === '--test') test = int('--test', a[++i]);
    else if (a[i] === '--out') out = a[++i] ?? out;
    else {
      console.error(`make-data: unknown argument '${a[i]}' (usage: make-data.js [--train N] [--test N] [--out FILE])`);
      process.exit(2);
    }
  }
  const bytes = writeSubset(out, train, test);
  console.log(`make-data: ${out} (${train} train + ${test} test images, ${(bytes / 1e6).toFixed(1)} MB)`);
}
