/**
 * ImageFolder on small folders generated with sharp in a temp dir: 8-bit PNG, 16-bit TIFF/PNG
 * (values above 255 survive exactly), RGB, JPEG, resizing of varied sizes, seeded and separate
 * train/val splits, in-memory vs per-batch decoding, and bad input (empty class, corrupt and
 * truncated files, mixed channel counts) as errors naming the file or as skips with warnings.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { DataLoader, ImageFolder, ImageFolderData, type Batch } from '../src/data/index.js';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'convnet-imgfolder-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function mk(path: string): string {
  mkdirSync(dirname(path), { recursive: true });
  return path;
}

/** Deterministic pixel values for image `seed`. */
function values(n: number, seed: number, max: number): number[] {
  return Array.from({ length: n }, (_, i) => (seed * 7919 + i * 104729) % (max + 1));
}

async function grey8(path: string, w: number, h: number, seed: number): Promise<number[]> {
  const v = values(w * h, seed, 255);
  await sharp(Uint8Array.from(v), { raw: { width: w, height: h, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toFile(mk(path));
  return v;
}

async function grey16(path: string, w: number, h: number, seed: number): Promise<number[]> {
  const v = values(w * h, seed, 65535);
  const img = sharp(Uint16Array.from(v), { raw: { width: w, height: h, channels: 1 } }).toColourspace('grey16');
  // sharp's TIFF default is JPEG compression (8-bit): ask for lossless LZW.
  await (path.endsWith('.png') ? img.png() : img.tiff({ compression: 'lzw' })).toFile(mk(path));
  return v;
}

async function rgb8(path: string, w: number, h: number, seed: number): Promise<number[]> {
  const v = values(w * h * 3, seed, 255);
  await sharp(Uint8Array.from(v), { raw: { width: w, height: h, channels: 3 } }).png().toFile(mk(path));
  return v; // interleaved HWC
}

function plain(b: Batch): { x: number[]; shape: number[]; y: number[] } {
  const out = { x: Array.from(b.x.toArray()), shape: [...b.x.shape], y: Array.from(b.y.toArray()) };
  b.x.dispose();
  b.y.dispose();
  return out;
}

async function rejectsWith(p: Promise<unknown>, ...fragments: string[]): Promise<void> {
  await assert.rejects(p, (e: Error) => {
    for (const f of fragments) if (!e.message.includes(f)) assert.fail(`message ${JSON.stringify(e.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

test('8-bit PNG: sorted classes, labels, values / 255 exactly, loaders', async () => {
  const root = join(dir, 'png8');
  const expected = new Map<string, number[]>();
  for (const [cls, count] of [['wild', 2], ['Zebra', 1], ['ants', 3]] as const) {
    for (let k = 0; k < count; k++) {
      const f = join(root, cls, k === 2 ? `sub/img${k}.PNG` : `img${k}.png`);
      expected.set(f, await grey8(f, 4, 3, expected.size + 1));
    }
  }
  writeFileSync(join(root, 'ants', 'notes.txt'), 'not an image'); // ignored by extension
  const data = await ImageFolder({ root, valFraction: 0, batchSize: 4, numWorkers: 0, seed: 0 });
  assert.ok(data instanceof ImageFolderData);
  assert.deepEqual(data.classNames, ['Zebra', 'ants', 'wild']); // code-point order, as Python's sorted()
  assert.equal(data.numClasses, 3);
  assert.deepEqual(data.inputShape, [1, 3, 4]);
  assert.equal(data.train.length, 6);
  assert.equal(data.val.length, 0);
  assert.ok(data.cached);
  assert.deepEqual(Array.from(data.train.labels()), [0, 1, 1, 1, 2, 2]);
  assert.ok(data.trainFiles[3]!.endsWith(join('ants', 'sub', 'img2.PNG')));
  for (let i = 0; i < data.train.length; i++) {
    const want = expected.get(data.trainFiles[i]!)!;
    assert.deepEqual(Array.from(data.train.get(i).x), want.map((v) => Math.fround(v / 255)));
  }
  const loader = new DataLoader(data.train, { batchSize: 4 });
  const batches = Array.from(loader, plain);
  assert.deepEqual(batches.map((b) => b.shape), [[4, 1, 3, 4], [2, 1, 3, 4]]);
  assert.deepEqual(batches.flatMap((b) => b.y), [0, 1, 1, 1, 2, 2]);
  assert.equal(data.trainLoader().length, 2);
  assert.equal(data.valLoader().length, 0);
  assert.deepEqual(Array.from(data.valLoader()), []);
});

test('16-bit TIFF and PNG: values above 255 survive exactly', async () => {
  const root = join(dir, 'g16');
  const tif = await grey16(join(root, 'a', 'x.tif'), 5, 3, 1);
  const png = await grey16(join(root, 'b', 'y.png'), 5, 3, 2);
  const tiff2 = await grey16(join(root, 'b', 'z.TIFF'), 5, 3, 3);
  assert.ok(tif.some((v) => v > 255) && Math.max(...tif) > 50000);
  const raw = await ImageFolder({ root, valFraction: 0, rawValues: true, numWorkers: 0 });
  assert.deepEqual(raw.inputShape, [1, 3, 5]);
  assert.deepEqual(Array.from(raw.train.get(0).x), tif);
  assert.deepEqual(Array.from(raw.train.get(1).x), png);
  assert.deepEqual(Array.from(raw.train.get(2).x), tiff2);
  const scaled = await ImageFolder({ root, valFraction: 0, numWorkers: 0 });
  const x = scaled.train.get(0).x;
  assert.deepEqual(Array.from(x), tif.map((v) => Math.fround(v / 65535)));
  assert.deepEqual(Array.from(x, (v) => Math.round(v * 65535)), tif);
  // Through a worker-backed loader and per-batch decoding as well.
  const none = await ImageFolder({ root, valFraction: 0, rawValues: true, cache: 'none', numWorkers: 1 });
  assert.equal(none.cached, false);
  const [batch] = Array.from(new DataLoader(none.train, { batchSize: 3, numWorkers: 1 }), plain);
  assert.deepEqual(batch!.x, [...tif, ...png, ...tiff2]);
});

test('RGB: auto channels, conversion to grey, grey replicated to RGB; JPEG', async () => {
  const root = join(dir, 'rgb');
  const c = await rgb8(join(root, 'c', 'a.png'), 3, 2, 5);
  await rgb8(join(root, 'd', 'b.png'), 3, 2, 6);
  await sharp(Buffer.from(values(3 * 2 * 3, 9, 255)), { raw: { width: 3, height: 2, channels: 3 } }).jpeg({ quality: 100 }).toFile(mk(join(root, 'd', 'c.JPG')));
  const data = await ImageFolder({ root, valFraction: 0, numWorkers: 0 });
  assert.deepEqual(data.inputShape, [3, 2, 3]);
  assert.equal(data.train.length, 3);
  // Planar: channel k of pixel p is interleaved value 3p + k.
  const x = data.train.get(0).x;
  for (let k = 0; k < 3; k++) for (let p = 0; p < 6; p++) assert.equal(x[k * 6 + p], Math.fround(c[3 * p + k]! / 255));
  const grey = await ImageFolder({ root, valFraction: 0, channels: 1, numWorkers: 0 });
  assert.deepEqual(grey.inputShape, [1, 2, 3]);
  const g = grey.train.get(0).x;
  // libvips' sRGB -> b-w: Rec. 709 luminance in linear light, gamma-encoded again.
  const lin = (u: number): number => (u <= 0.04045 ? u / 12.92 : ((u + 0.055) / 1.055) ** 2.4);
  const enc = (y: number): number => (y <= 0.0031308 ? 12.92 * y : 1.055 * y ** (1 / 2.4) - 0.055);
  for (let p = 0; p < 6; p++) {
    const [r, gg, b] = [0, 1, 2].map((k) => lin(c[3 * p + k]! / 255));
    const lum = enc(0.2126 * r! + 0.7152 * gg! + 0.0722 * b!);
    assert.ok(Math.abs(g[p]! - lum) < 0.02, `pixel ${p}: ${g[p]} vs ~${lum}`);
  }
  const root2 = join(dir, 'grey-as-rgb');
  const v = await grey8(join(root2, 'k', 'a.png'), 2, 2, 3);
  const asRgb = await ImageFolder({ root: root2, valFraction: 0, channels: 3, numWorkers: 0 });
  assert.deepEqual(Array.from(asRgb.train.get(0).x), [...v, ...v, ...v].map((u) => Math.fround(u / 255)));
});

test('varied sizes: resize brings them to one size; without resize, an error naming the file', async () => {
  const root = join(dir, 'sizes');
  await grey8(join(root, 'a', '1.png'), 8, 6, 1);
  await grey16(join(root, 'a', '2.tif'), 5, 10, 2);
  await grey8(join(root, 'b', '3.png'), 4, 4, 3);
  const data = await ImageFolder({ root, valFraction: 0, resize: 4, numWorkers: 0 });
  assert.deepEqual(data.inputShape, [1, 4, 4]);
  const same = data.train.get(2).x; // 4x4 stays as it is
  assert.equal(same.length, 16);
  const rect = await ImageFolder({ root, valFraction: 0, resize: [3, 7], numWorkers: 0, antialias: false });
  assert.deepEqual(rect.inputShape, [1, 3, 7]);
  await rejectsWith(ImageFolder({ root, valFraction: 0 }), join('a', '2.tif'), 'is 5x10', 'pass a resize option');
  const skipped: string[] = [];
  const kept = await ImageFolder({ root, valFraction: 0, onError: 'skip', onWarning: (m) => skipped.push(m), numWorkers: 0 });
  assert.equal(kept.train.length, 1);
  assert.equal(skipped.length, 2);
});

test('bad input: empty class, corrupt file, truncated file, mixed channels — errors or skips', async () => {
  const root = join(dir, 'bad');
  await grey8(join(root, 'good', 'a.png'), 4, 4, 1);
  await grey8(join(root, 'good', 'b.png'), 4, 4, 2);
  mkdirSync(join(root, 'empty'), { recursive: true });
  writeFileSync(join(root, 'empty', 'readme.md'), 'no images here');
  await rejectsWith(ImageFolder({ root }), join(root, 'empty'), 'has no image files');

  const root2 = join(dir, 'corrupt');
  await grey8(join(root2, 'x', 'a.png'), 4, 4, 1);
  await grey8(join(root2, 'x', 'b.png'), 4, 4, 2);
  writeFileSync(mk(join(root2, 'y', 'junk.png')), 'this is not a PNG at all');
  await rejectsWith(ImageFolder({ root: root2 }), join('y', 'junk.png'), 'cannot read image');
  // Truncated: a valid header, the pixel data cut short (found when decoding).
  await grey8(join(root2, 'y', 'big.png'), 64, 64, 3);
  const full = readFileSync(join(root2, 'y', 'big.png'));
  writeFileSync(join(root2, 'y', 'big.png'), full.subarray(0, Math.floor(full.length / 2)));
  await grey8(join(root2, 'y', 'ok.png'), 4, 4, 4);
  const warnings: string[] = [];
  const skipped = await ImageFolder({ root: root2, resize: 4, valFraction: 0, onError: 'skip', onWarning: (m) => warnings.push(m), numWorkers: 0 });
  assert.equal(skipped.train.length, 3);
  assert.deepEqual(skipped.skipped.map((s) => s.file.slice(root2.length + 1)).sort(), [join('y', 'big.png'), join('y', 'junk.png')]);
  assert.equal(warnings.length, 2);
  assert.ok(warnings.every((w) => w.includes('skipping')));
  rmSync(join(root2, 'y', 'junk.png'));
  await rejectsWith(ImageFolder({ root: root2, resize: 4 }), join('y', 'big.png'), 'cannot decode image');
  // With per-batch decoding the truncated file passes the header check and fails in the worker.
  const lazy = await ImageFolder({ root: root2, resize: 4, valFraction: 0, cache: 'none', onError: 'skip', onWarning: () => undefined, numWorkers: 1 });
  assert.throws(() => Array.from(lazy.trainLoader(), plain), (e: Error) => e.message.includes(join('y', 'big.png')));

  const root3 = join(dir, 'mixed');
  await grey8(join(root3, 'p', 'a.png'), 3, 3, 1);
  await rgb8(join(root3, 'p', 'b.png'), 3, 3, 2);
  await grey8(join(root3, 'q', 'c.png'), 3, 3, 3);
  await rejectsWith(ImageFolder({ root: root3 }), join('p', 'b.png'), 'has 3 channel(s)', 'has 1', 'channels: 1');
  const w2: string[] = [];
  const mixedSkip = await ImageFolder({ root: root3, valFraction: 0, onError: 'skip', onWarning: (m) => w2.push(m), numWorkers: 0 });
  assert.equal(mixedSkip.train.length, 2);
  assert.ok(w2[0]!.includes(join('p', 'b.png')));
  assert.equal((await ImageFolder({ root: root3, valFraction: 0, channels: 1, numWorkers: 0 })).train.length, 3);

  // Empty class with skip: a warning, the class keeps its index.
  const w3: string[] = [];
  const withEmpty = await ImageFolder({ root, valFraction: 0, onError: 'skip', onWarning: (m) => w3.push(m), numWorkers: 0 });
  assert.deepEqual(withEmpty.classNames, ['empty', 'good']);
  assert.deepEqual(Array.from(withEmpty.train.labels()), [1, 1]);
  assert.ok(w3[0]!.includes('has no image files'));
  await rejectsWith(ImageFolder({ root: join(dir, 'does-not-exist') }), 'is not a folder');
});

test('seeded stratified split, separate train/val folders, and memory vs per-batch decoding agree', async () => {
  const root = join(dir, 'split');
  for (const cls of ['a', 'b', 'c']) for (let k = 0; k < 10; k++) await grey8(join(root, cls, `${k}.png`), 5, 5, k * 3 + cls.charCodeAt(0));
  const s1 = await ImageFolder({ root, valFraction: 0.2, seed: 1, numWorkers: 0 });
  const s1b = await ImageFolder({ root, valFraction: 0.2, seed: 1, numWorkers: 0 });
  const s2 = await ImageFolder({ root, valFraction: 0.2, seed: 2, numWorkers: 0 });
  assert.equal(s1.train.length, 24);
  assert.equal(s1.val.length, 6);
  assert.deepEqual(s1.valFiles, s1b.valFiles);
  assert.notDeepEqual(s1.valFiles, s2.valFiles);
  assert.deepEqual([...s1.trainFiles, ...s1.valFiles].sort(), [...s2.trainFiles, ...s2.valFiles].sort());
  assert.equal(new Set([...s1.trainFiles, ...s1.valFiles]).size, 30);
  const hist = [0, 0, 0];
  for (const l of s1.val.labels()) hist[l]!++;
  assert.deepEqual(hist, [2, 2, 2]);

  const trainRoot = join(dir, 'tv', 'train');
  const valRoot = join(dir, 'tv', 'val');
  for (const cls of ['x', 'y']) {
    for (let k = 0; k < 3; k++) await grey8(join(trainRoot, cls, `${k}.png`), 4, 4, k);
    await grey8(join(valRoot, cls, 'v.png'), 4, 4, 9);
  }
  const tv = await ImageFolder({ trainRoot, valRoot, numWorkers: 0 });
  assert.deepEqual([tv.train.length, tv.val.length], [6, 2]);
  assert.deepEqual(Array.from(tv.val.labels()), [0, 1]);
  mkdirSync(join(valRoot, 'z'));
  await rejectsWith(ImageFolder({ trainRoot, valRoot }), 'class folders [x, y, z]');

  // Memory cache vs per-batch decoding in a worker: the same validation batches.
  const mem = await ImageFolder({ root, valFraction: 0.2, seed: 1, resize: 3, batchSize: 4, numWorkers: 1, cache: 'memory' });
  const lazy = await ImageFolder({ root, valFraction: 0.2, seed: 1, resize: 3, batchSize: 4, numWorkers: 1, cache: 'none' });
  const a = Array.from(mem.valLoader(), plain);
  const b = Array.from(lazy.valLoader(), plain);
  assert.equal(a.length, 2);
  assert.deepEqual(b, a);
  const c: ReturnType<typeof plain>[] = [];
  for await (const batch of (await ImageFolder({ root, valFraction: 0.2, seed: 1, resize: 3, batchSize: 4, numWorkers: 0, cache: 'none' })).valLoader()) c.push(plain(batch));
  assert.deepEqual(c, a);
});
