/**
 * The IDX reader on small generated files (in a temp dir): valid files of every type, raw and
 * gzipped, and every way a file can be wrong — each error must name the file and say what is wrong.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readIdx, parseIdx, readIdxImageSet, loadFashionMnistSplit, FashionMNIST } from '../src/data/index.js';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'convnet-idx-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** IDX bytes: magic 00 00, type code, dims (big-endian u32), body. */
function idx(type: number, dims: number[], body: Uint8Array | number[]): Buffer {
  const h = Buffer.alloc(4 + 4 * dims.length);
  h[2] = type;
  h[3] = dims.length;
  dims.forEach((d, i) => h.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([h, Buffer.from(body as Uint8Array)]);
}

function write(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

/** Asserts that `fn` throws an error whose message contains every fragment. */
function throwsWith(fn: () => unknown, ...fragments: (string | RegExp)[]): void {
  assert.throws(fn, (e: Error) => {
    for (const f of fragments) {
      if (typeof f === 'string' ? !e.message.includes(f) : !f.test(e.message)) {
        assert.fail(`message ${JSON.stringify(e.message)} lacks ${String(f)}`);
      }
    }
    return true;
  });
}

test('reads uint8 images raw and gzipped, whatever the name', () => {
  const body = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => i * 10);
  const raw = write('imgs-idx3-ubyte', idx(0x08, [2, 3, 4], body));
  const gz = write('imgs-idx3-ubyte.gz', gzipSync(idx(0x08, [2, 3, 4], body)));
  const gzNoExt = write('imgs-gz-without-extension', gzipSync(idx(0x08, [2, 3, 4], body)));
  for (const p of [raw, gz, gzNoExt]) {
    const a = readIdx(p);
    assert.equal(a.type, 'uint8');
    assert.deepEqual(a.shape, [2, 3, 4]);
    assert.deepEqual(Array.from(a.data), Array.from(body));
  }
  const shared = readIdx(gz, { shared: true });
  assert.ok(shared.data.buffer instanceof SharedArrayBuffer);
});

test('reads the multi-byte types big-endian', () => {
  const i16 = Buffer.alloc(4);
  i16.writeInt16BE(-2, 0);
  i16.writeInt16BE(300, 2);
  assert.deepEqual(Array.from(parseIdx(idx(0x0b, [2], i16), 'i16').data), [-2, 300]);
  const i32 = Buffer.alloc(8);
  i32.writeInt32BE(-70000, 0);
  i32.writeInt32BE(123456789, 4);
  assert.deepEqual(Array.from(parseIdx(idx(0x0c, [2], i32), 'i32').data), [-70000, 123456789]);
  const f32 = Buffer.alloc(8);
  f32.writeFloatBE(1.5, 0);
  f32.writeFloatBE(-0.25, 4);
  assert.deepEqual(Array.from(parseIdx(idx(0x0d, [1, 2], f32), 'f32').data), [1.5, -0.25]);
  const f64 = Buffer.alloc(8);
  f64.writeDoubleBE(Math.PI, 0);
  assert.deepEqual(Array.from(parseIdx(idx(0x0e, [1], f64), 'f64').data), [Math.PI]);
  assert.deepEqual(Array.from(parseIdx(idx(0x09, [3], [0xff, 0x80, 5]), 'i8').data), [-1, -128, 5]);
});

test('rejects bad magic bytes, unknown type codes and bad dimension counts', () => {
  const good = idx(0x08, [2], [1, 2]);
  const badMagic = Buffer.from(good);
  badMagic[0] = 0x50; // e.g. a PNG or text file
  throwsWith(() => readIdx(write('bad-magic', badMagic)), 'bad-magic', 'bad magic bytes');
  const badType = Buffer.from(good);
  badType[2] = 0x0a;
  throwsWith(() => readIdx(write('bad-type', badType)), 'bad-type', 'unknown IDX type code 0x0a');
  const zeroDims = Buffer.from([0, 0, 8, 0]);
  throwsWith(() => readIdx(write('zero-dims', zeroDims)), 'zero-dims', 'dimension count 0');
  const manyDims = Buffer.concat([Buffer.from([0, 0, 8, 9]), Buffer.alloc(36, 0)]);
  throwsWith(() => readIdx(write('many-dims', manyDims)), 'many-dims', 'dimension count 9');
  throwsWith(() => readIdx(write('tiny', Buffer.from([0, 0]))), 'tiny', 'only 2 bytes');
  throwsWith(() => readIdx(write('short-header', Buffer.from([0, 0, 8, 3, 0, 0, 0, 1]))), 'short-header', 'truncated IDX header');
});

test('rejects a zero dimension and any header/body length mismatch', () => {
  throwsWith(() => readIdx(write('zero-dim', idx(0x08, [3, 0, 4], []))), 'zero-dim', 'dimension 1 is 0');
  throwsWith(() => readIdx(write('short-body', idx(0x08, [2, 3], [1, 2, 3, 4, 5]))), 'short-body', 'truncated', '17 bytes', 'exactly 18');
  throwsWith(() => readIdx(write('long-body', idx(0x08, [2, 2], [1, 2, 3, 4, 5]))), 'long-body', 'trailing bytes', 'exactly 16');
  throwsWith(() => readIdx(write('short-i32', idx(0x0c, [2], [0, 0, 0, 1, 0, 0]))), 'short-i32', 'int32 2', 'exactly 16');
});

test('a hostile header cannot allocate: sizes are capped before any allocation', () => {
  // 4 x 0xffffffff^3 elements: the product overflows 2^53 unless checked step by step.
  const hostile = idx(0x0e, [0xffffffff, 0xffffffff, 0xffffffff, 4], [1, 2, 3]);
  throwsWith(() => readIdx(write('hostile', hostile)), 'hostile', 'more than the', 'cap');
  // A plausible header just above a small cap.
  throwsWith(() => readIdx(write('capped', idx(0x08, [100, 100], new Uint8Array(10000))), { maxBytes: 9999 }), 'capped', 'cap');
  assert.equal(readIdx(join(dir, 'capped'), { maxBytes: 10000 }).data.length, 10000);
  // A raw file larger than the cap is refused before it is read.
  throwsWith(() => readIdx(write('big-file', Buffer.alloc(5000)), { maxBytes: 1000 }), 'big-file', 'more than the');
  // A gzip bomb: small file, huge output.
  const bomb = gzipSync(idx(0x08, [1 << 20], new Uint8Array(1 << 20)));
  assert.ok(bomb.length < 5000);
  throwsWith(() => readIdx(write('bomb.gz', bomb), { maxBytes: 1 << 16 }), 'bomb.gz', 'exceeds the 65536-byte cap');
});

test('gzip errors: truncated, corrupt, not gzip at all', () => {
  const gz = gzipSync(idx(0x08, [50, 20], Uint8Array.from({ length: 1000 }, (_, i) => (i * 7919) % 251)));
  throwsWith(() => readIdx(write('trunc.gz', gz.subarray(0, gz.length - 30))), 'trunc.gz', 'truncated gzip data');
  throwsWith(() => readIdx(write('trunc-header.gz', gz.subarray(0, 12))), 'trunc-header.gz', 'truncated gzip');
  const corrupt = Buffer.from(gz);
  corrupt[corrupt.length - 6] ^= 0xff; // CRC mismatch
  throwsWith(() => readIdx(write('crc.gz', corrupt)), 'crc.gz', 'corrupt gzip data');
  const corrupt2 = Buffer.from(gz);
  for (let i = 12; i < 40; i++) corrupt2[i] = 0xff; // garbage deflate stream
  throwsWith(() => readIdx(write('garbage.gz', corrupt2)), 'garbage.gz', 'corrupt gzip data');
  throwsWith(() => readIdx(write('plain.gz', idx(0x08, [2], [1, 2]))), 'plain.gz', 'not gzip data');
  throwsWith(() => readIdx(join(dir, 'missing.gz')), 'missing.gz', 'ENOENT');
});

test('image/label pairs: types, counts and label range are checked', () => {
  const imgs = write('i3', idx(0x08, [3, 2, 2], new Uint8Array(12)));
  const ok = write('l3', idx(0x08, [3], [0, 9, 4]));
  const set = readIdxImageSet(imgs, ok, 10);
  assert.equal(set.n, 3);
  assert.deepEqual(Array.from(set.labels), [0, 9, 4]);
  throwsWith(() => readIdxImageSet(imgs, write('l2', idx(0x08, [2], [0, 1])), 10), 'i3 has 3 images', 'l2 has 2 labels');
  throwsWith(() => readIdxImageSet(imgs, write('l-bad', idx(0x08, [3], [0, 10, 1])), 10), 'l-bad', 'label 10 at index 1', 'outside 0..9');
  throwsWith(() => readIdxImageSet(write('i-2d', idx(0x08, [3, 4], new Uint8Array(12))), ok, 10), 'i-2d', 'expected uint8 images');
  throwsWith(() => readIdxImageSet(imgs, write('l-i32', idx(0x0c, [3], new Uint8Array(12))), 10), 'l-i32', 'expected uint8 labels');
});

test('a Fashion-MNIST root with generated files, and the message when files are missing', () => {
  const root = mkdtempSync(join(dir, 'fm-'));
  writeFileSync(join(root, 'train-images-idx3-ubyte.gz'), gzipSync(idx(0x08, [4, 28, 28], new Uint8Array(4 * 784).fill(255))));
  writeFileSync(join(root, 'train-labels-idx1-ubyte'), idx(0x08, [4], [0, 1, 2, 3]));
  writeFileSync(join(root, 't10k-images-idx3-ubyte'), idx(0x08, [2, 28, 28], new Uint8Array(2 * 784)));
  writeFileSync(join(root, 't10k-labels-idx1-ubyte.gz'), gzipSync(idx(0x08, [3], [0, 1, 2])));
  const train = loadFashionMnistSplit('train', root);
  assert.equal(train.n, 4);
  throwsWith(() => loadFashionMnistSplit('test', root), 't10k-images-idx3-ubyte has 2 images', 'has 3 labels');
  throwsWith(
    () => FashionMNIST({ root: join(dir, 'nowhere') }),
    'train-images-idx3-ubyte(.gz) not found',
    'apt-get install dataset-fashion-mnist',
    'CONVNET_FASHION_MNIST',
  );
  const prev = process.env.CONVNET_FASHION_MNIST;
  process.env.CONVNET_FASHION_MNIST = root;
  try {
    assert.equal(loadFashionMnistSplit('train').n, 4);
  } finally {
    if (prev === undefined) delete process.env.CONVNET_FASHION_MNIST;
    else process.env.CONVNET_FASHION_MNIST = prev;
  }
});
