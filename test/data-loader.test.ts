/**
 * DataLoader on small in-memory datasets: batch shapes, dropLast, seeded shuffles, identical
 * batches whatever numWorkers (also with random augmentations), for-await, early exit, errors
 * from workers, and a worker-backed loader that must not keep the process alive.
 * Also the transforms themselves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DataLoader,
  Dataset,
  normalize,
  randomCrop,
  horizontalFlip,
  verticalFlip,
  applyTransform,
  type Batch,
} from '../src/data/index.js';
import { Generator } from '../src/tensor/random.js';

/** n samples of shape [c, h, w]; value = 1000 * sample + position, label = sample % 3. */
function toy(n: number, c = 1, h = 2, w = 3): Dataset {
  const size = c * h * w;
  const pixels = Float32Array.from({ length: n * size }, (_, i) => 1000 * Math.floor(i / size) + (i % size));
  return Dataset.fromArrays({ pixels, labels: Int32Array.from({ length: n }, (_, i) => i % 3), shape: [n, c, h, w] });
}

interface Plain {
  x: number[];
  shape: number[];
  y: number[];
}

function plain(b: Batch): Plain {
  const out = { x: Array.from(b.x.toArray()), shape: [...b.x.shape], y: Array.from(b.y.toArray()) };
  b.x.dispose();
  b.y.dispose();
  return out;
}

function epoch(loader: DataLoader): Plain[] {
  return Array.from(loader, plain);
}

/** The sample ids of a batch of `toy` data (first pixel / 1000). */
function ids(b: Plain, size: number): number[] {
  return Array.from({ length: b.y.length }, (_, k) => Math.floor(b.x[k * size]! / 1000));
}

test('batches: shapes, dtypes, lengths, dropLast', () => {
  const ds = toy(10);
  const loader = new DataLoader(ds, { batchSize: 4 });
  assert.equal(loader.length, 3);
  assert.equal(loader.len(), 3);
  const batches = Array.from(loader);
  assert.deepEqual(batches.map((b) => b.x.shape), [[4, 1, 2, 3], [4, 1, 2, 3], [2, 1, 2, 3]]);
  assert.deepEqual(batches.map((b) => b.y.shape), [[4], [4], [2]]);
  assert.equal(batches[0]!.x.dtype, 'float32');
  assert.equal(batches[0]!.y.dtype, 'int32');
  const p = batches.map(plain);
  assert.deepEqual(p.flatMap((b) => ids(b, 6)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(p[0]!.x.slice(0, 7), [0, 1, 2, 3, 4, 5, 1000]);
  assert.deepEqual(p[2]!.y, [2, 0]);
  const dropped = new DataLoader(ds, { batchSize: 4, dropLast: true });
  assert.equal(dropped.length, 2);
  assert.equal(epoch(dropped).length, 2);
  assert.equal(new DataLoader(ds, { batchSize: 10, dropLast: true }).length, 1);
  assert.equal(new DataLoader(ds, { batchSize: 11, dropLast: true }).length, 0);
  assert.equal(epoch(new DataLoader(ds, { batchSize: 11, dropLast: true, numWorkers: 1 })).length, 0);
  assert.throws(() => new DataLoader(ds, { batchSize: 0 }), /batchSize/);
});

test('shuffling: a permutation per epoch, reproducible from the seed, resumable from the state', () => {
  const ds = toy(23);
  const a = new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 42 });
  const b = new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 42 });
  const a1 = epoch(a).flatMap((x) => ids(x, 6));
  const a2 = epoch(a).flatMap((x) => ids(x, 6));
  assert.deepEqual([...a1].sort((p, q) => p - q), Array.from({ length: 23 }, (_, i) => i));
  assert.notDeepEqual(a1, a2);
  assert.deepEqual(epoch(b).flatMap((x) => ids(x, 6)), a1);
  // Resume: restoring the generator state replays the next epoch.
  const state = a.generator.getState();
  const a3 = epoch(a).flatMap((x) => ids(x, 6));
  const c = new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 7 });
  c.generator.setState(state);
  assert.deepEqual(epoch(c).flatMap((x) => ids(x, 6)), a3);
  // Labels follow their samples.
  for (const batch of epoch(new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 1 }))) {
    assert.deepEqual(batch.y, ids(batch, 6).map((i) => i % 3));
  }
  // firstBatch does not move the generator.
  const before = a.generator.getState();
  plain(a.firstBatch());
  assert.deepEqual(a.generator.getState(), before);
});

test('the same batches with numWorkers 0, 1 and 3, with random augmentations, sync and async', async () => {
  const ds = toy(37, 2, 5, 6).withPipeline({
    augment: [randomCrop([5, 6], 2, -1), horizontalFlip(0.5), verticalFlip(0.3)],
    transforms: [normalize([1, 2], [2, 4])],
  });
  const make = (numWorkers: number): DataLoader =>
    new DataLoader(ds, { batchSize: 8, shuffle: true, seed: 3, numWorkers, prefetchFactor: numWorkers === 3 ? 1 : 2 });
  const l0 = make(0);
  const l1 = make(1);
  const l3 = make(3);
  for (let e = 0; e < 2; e++) {
    const ref = epoch(l0);
    assert.equal(ref.length, 5);
    assert.deepEqual(epoch(l1), ref, `epoch ${e}: numWorkers 1`);
    const async3: Plain[] = [];
    for await (const b of l3) async3.push(plain(b));
    assert.deepEqual(async3, ref, `epoch ${e}: numWorkers 3, for await`);
  }
  // Augmentations differ between epochs, and something was actually flipped/cropped.
  const e1 = epoch(make(0));
  const m = make(0);
  epoch(m);
  assert.notDeepEqual(epoch(m), e1);
  const async0: Plain[] = [];
  for await (const b of make(0)) async0.push(plain(b));
  assert.deepEqual(async0, e1);
});

test('breaking out of a worker-backed epoch stops it; the next epoch starts fresh', () => {
  const ds = toy(50);
  const loader = new DataLoader(ds, { batchSize: 4, numWorkers: 2 });
  let n = 0;
  for (const b of loader) {
    plain(b);
    if (++n === 2) break;
  }
  assert.equal(loader.batchesServed, 2);
  const all = epoch(loader);
  assert.equal(all.length, 13);
  assert.deepEqual(all.flatMap((b) => ids(b, 6)), Array.from({ length: 50 }, (_, i) => i));
  assert.ok(loader.waitSeconds >= 0 && loader.loadSeconds >= loader.waitSeconds);
  // Two passes in flight at once are independent.
  const it1 = loader[Symbol.iterator]();
  const it2 = loader[Symbol.iterator]();
  assert.deepEqual(ids(plain(it1.next().value as Batch), 6), [0, 1, 2, 3]);
  assert.deepEqual(ids(plain(it2.next().value as Batch), 6), [0, 1, 2, 3]);
  assert.deepEqual(ids(plain(it1.next().value as Batch), 6), [4, 5, 6, 7]);
  it1.return();
  it2.return();
  assert.equal(it1.next().done, true);
});

test('errors in a worker reach the training loop, naming the file', async () => {
  const info = { channels: 1, hasAlpha: false, depth: 'uchar', width: 2, height: 2, format: 'png' };
  const files = Dataset.fromFiles({
    kind: 'files',
    files: ['/nonexistent/a.png', '/nonexistent/b.png'],
    labels: Int32Array.from([0, 1]),
    infos: [info, info],
    decode: { channels: 1 },
  });
  assert.throws(() => Array.from(new DataLoader(files, { batchSize: 1, numWorkers: 1 })), /\/nonexistent\/a\.png/);
  await assert.rejects(async () => {
    for await (const b of new DataLoader(files, { batchSize: 2, numWorkers: 1 })) plain(b);
  }, /\/nonexistent\/a\.png/);
  await assert.rejects(async () => {
    for await (const b of new DataLoader(files, { batchSize: 2, numWorkers: 0 })) plain(b);
  }, /\/nonexistent\/a\.png/);
  assert.throws(() => Array.from(new DataLoader(files, { batchSize: 1, numWorkers: 0 })), /numWorkers >= 1/);
});

test('a worker-backed loader does not keep the process alive', () => {
  const dir = mkdtempSync(join(tmpdir(), 'convnet-loader-'));
  try {
    const index = fileURLToPath(new URL('../src/data/index.js', import.meta.url));
    const script = join(dir, 'abandon.mjs');
    // Takes two batches from a 2-worker loader and never finishes the pass nor calls return().
    writeFileSync(
      script,
      `import { Dataset, DataLoader } from ${JSON.stringify(index)};
const ds = Dataset.fromArrays({ pixels: new Uint8Array(1000 * 64), labels: new Int32Array(1000), shape: [1000, 1, 8, 8] });
const it = new DataLoader(ds, { batchSize: 10, numWorkers: 2, shuffle: true, seed: 0 })[Symbol.iterator]();
it.next(); it.next();
console.log('done');
`,
    );
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.signal, null, `the process hung (killed after ${Date.now() - t0} ms)`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'done');
    // Without unref() the process lingers until the abandoned iterator is garbage-collected (~8 s here).
    assert.ok(Date.now() - t0 < 4000, `exit took ${Date.now() - t0} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('transforms: normalize, flips, random crop with padding', () => {
  const img = () => ({ data: Float32Array.from({ length: 2 * 2 * 3 }, (_, i) => i), c: 2, h: 2, w: 3 });
  const n = applyTransform(normalize([1, 2], [2, 4]), img(), null);
  assert.deepEqual(Array.from(n.data), [-0.5, 0, 0.5, 1, 1.5, 2, 1, 1.25, 1.5, 1.75, 2, 2.25]);
  const g = new Generator(0);
  assert.deepEqual(Array.from(applyTransform(horizontalFlip(1), img(), g).data), [2, 1, 0, 5, 4, 3, 8, 7, 6, 11, 10, 9]);
  assert.deepEqual(Array.from(applyTransform(horizontalFlip(0), img(), g).data), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.deepEqual(Array.from(applyTransform(verticalFlip(1), img(), g).data), [3, 4, 5, 0, 1, 2, 9, 10, 11, 6, 7, 8]);
  // Same-size crop without padding is the identity; with padding, a shifted window with fill.
  assert.deepEqual(Array.from(applyTransform(randomCrop([2, 3]), img(), g).data), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  const seen = new Set<string>();
  for (let k = 0; k < 200; k++) {
    const out = applyTransform(randomCrop([2, 3], 1, -1), img(), g);
    assert.deepEqual([out.c, out.h, out.w], [2, 2, 3]);
    seen.add(Array.from(out.data.subarray(0, 6)).join());
  }
  assert.equal(seen.size, 9); // 3 x 3 offsets in the padded 4 x 5 image
  assert.ok(seen.has('-1,-1,-1,-1,0,1')); // top-left: one row and one column of fill
  assert.ok(seen.has('4,5,-1,-1,-1,-1')); // bottom-right
  assert.throws(() => applyTransform(randomCrop(5), img(), g), /larger than the padded image/);
  assert.throws(() => normalize([0], [0]), /nonzero/);
  assert.throws(() => horizontalFlip(2), /p must be in/);
  assert.throws(() => toy(3).withPipeline({ transforms: [normalize([0, 0, 0], [1, 1, 1])] }), /3 means for 1 channels/);
});
