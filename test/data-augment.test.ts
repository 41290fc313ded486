/**
 * Augmentation. (1) The deterministic operations against torchvision 0.14 on fixed parameters
 * (test/fixtures/torchvision-transforms.json, made by test/py/torchvision_transforms.py with
 * torchvision.transforms.functional on float tensors): a crop box resized, rotations and affine
 * maps (nearest and bilinear, with and without torchvision's fill mask), brightness, contrast,
 * erasing and Gaussian blur. (2) The random transforms, whose sampling cannot follow torch's
 * generator: shapes, value ranges, determinism per seed, the distribution of the sampled
 * parameters, and the identity at their neutral settings. (3) In the DataLoader: the same seed
 * gives the same augmented batches with 0, 1 and 3 workers, and a different seed different ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as F from '../src/data/functional.js';
import type { Plane } from '../src/data/transforms.js';
import { readFixture } from './helpers/fixtures.js';

interface FxImage {
  shape: [number, number, number];
  data: number[];
}
interface FxCase {
  fn: string;
  image: string;
  params: Record<string, any>;
  shape: [number, number, number];
  output: number[];
}
const fx = readFixture<{ torchvision: string; images: Record<string, FxImage>; cases: FxCase[] }>('torchvision-transforms.json');

function plane(name: string): Plane {
  const im = fx.images[name]!;
  return { data: Float32Array.from(im.data), c: im.shape[0], h: im.shape[1], w: im.shape[2] };
}

function apply(c: FxCase): Plane {
  const img = plane(c.image);
  const p = c.params;
  switch (c.fn) {
    case 'resizedCrop':
      return F.resizedCrop(img, p.top, p.left, p.height, p.width, p.size);
    case 'rotate':
      return F.rotate(img, p.angle, { interpolation: p.interpolation, fill: p.fill, center: p.center ?? null });
    case 'affine':
      return F.affine(img, { angle: p.angle, translate: p.translate, scale: p.scale, shear: p.shear }, { interpolation: p.interpolation, fill: p.fill });
    case 'adjustBrightness':
      return F.adjustBrightness(img, p.factor);
    case 'adjustContrast':
      return F.adjustContrast(img, p.factor);
    case 'erase':
      return F.erase(img, p.top, p.left, p.height, p.width, p.value);
    case 'gaussianBlur':
      return F.gaussianBlur(img, p.kernelSize, p.sigma);
    default:
      throw new Error(`unknown fn ${c.fn}`);
  }
}

test('functional transforms equal torchvision 0.14 on fixed parameters', () => {
  assert.match(fx.torchvision, /^0\.14/);
  for (const c of fx.cases) {
    const what = `${c.fn}(${c.image}, ${JSON.stringify(c.params)})`;
    const y = apply(c);
    assert.deepEqual([y.c, y.h, y.w], c.shape, `${what}: shape`);
    let worst = 0;
    let at = -1;
    for (let i = 0; i < c.output.length; i++) {
      const d = Math.abs(y.data[i]! - c.output[i]!);
      if (d > worst) [worst, at] = [d, i];
    }
    assert.ok(worst <= 2e-6, `${what}: max |diff| ${worst} at ${at} (${y.data[at]} vs torchvision ${c.output[at]})`);
  }
});

// ---- (2) the random transforms -------------------------------------------------------------

import * as cn from '../src/index.js';
import {
  DataLoader,
  Dataset,
  applyTransform,
  colorJitter,
  compose,
  gaussianBlur,
  horizontalFlip,
  normalize,
  randomAffine,
  randomAffineParams,
  randomErasing,
  randomErasingParams,
  randomResizedCrop,
  randomResizedCropParams,
  randomRotation,
  transformShape,
  type Transform,
} from '../src/data/index.js';

interface Stats {
  mean: number[];
  std: number[];
  n: number;
}
const sampling = (fx as unknown as { sampling: Record<string, Stats> }).sampling;

function stats(rows: number[][]): Stats {
  const n = rows.length;
  const k = rows[0]!.length;
  const mean = Array.from({ length: k }, (_, j) => rows.reduce((s, r) => s + r[j]!, 0) / n);
  const std = Array.from({ length: k }, (_, j) => Math.sqrt(rows.reduce((s, r) => s + (r[j]! - mean[j]!) ** 2, 0) / (n - 1)));
  return { mean, std, n };
}

/** Means within 5 standard errors of torchvision's, standard deviations within 5 % (plus a floor). */
function assertSameDistribution(ours: Stats, theirs: Stats, what: string, names: string[]): void {
  ours.mean.forEach((m, j) => {
    const se = Math.sqrt(ours.std[j]! ** 2 / ours.n + theirs.std[j]! ** 2 / theirs.n);
    assert.ok(Math.abs(m - theirs.mean[j]!) <= 5 * se + 1e-9, `${what}: mean ${names[j]} ${m} vs torchvision ${theirs.mean[j]} (se ${se})`);
    assert.ok(Math.abs(ours.std[j]! - theirs.std[j]!) <= 0.05 * theirs.std[j]! + 0.02, `${what}: std ${names[j]} ${ours.std[j]} vs torchvision ${theirs.std[j]}`);
  });
}

test("sampled parameters follow torchvision's distributions (RandomResizedCrop, RandomErasing, RandomAffine)", () => {
  const g = new cn.Generator(123);
  const n = 20000;
  const box = ['top', 'left', 'height', 'width'];
  assertSameDistribution(
    stats(Array.from({ length: n }, () => randomResizedCropParams(g, 28, 28, [0.08, 1], [3 / 4, 4 / 3]))),
    sampling['randomResizedCrop 28x28 default']!,
    'randomResizedCrop 28x28',
    box,
  );
  assertSameDistribution(
    stats(Array.from({ length: n }, () => randomResizedCropParams(g, 20, 40, [0.5, 1], [0.5, 1]))),
    sampling['randomResizedCrop 20x40 scale 0.5-1 ratio 0.5-1']!,
    'randomResizedCrop 20x40 (mostly the central fallback)',
    box,
  );
  // torchvision's erasing always finds a box here; so must we.
  const erasing = Array.from({ length: n }, () => randomErasingParams(g, 28, 28, [0.02, 0.33], [0.3, 3.3]));
  assert.ok(erasing.every((b) => b !== null));
  assertSameDistribution(stats(erasing as number[][]), sampling['randomErasing 28x28 default']!, 'randomErasing', box);
  const aff = randomAffine([-10, 10], { translate: [0.1, 0.2], scale: [0.8, 1.2], shear: [-5, 5, -3, 3] });
  const rows = Array.from({ length: n }, () => {
    const [angle, [tx, ty], scale, [sx, sy]] = randomAffineParams(g, aff, 20, 40);
    return [angle, tx, ty, scale, sx, sy];
  });
  assertSameDistribution(stats(rows), sampling['randomAffine 40x20 degrees 10 translate 0.1,0.2 scale 0.8-1.2 shear 5,3']!, 'randomAffine', [
    'angle', 'tx', 'ty', 'scale', 'shear x', 'shear y',
  ]);
  // Ranges.
  for (const [i, j, h, w] of Array.from({ length: 2000 }, () => randomResizedCropParams(g, 28, 28, [0.08, 1], [3 / 4, 4 / 3]))) {
    assert.ok(i >= 0 && j >= 0 && h >= 1 && w >= 1 && i + h <= 28 && j + w <= 28);
  }
  for (const r of rows) assert.ok(Math.abs(r[1]!) <= 4 && Math.abs(r[2]!) <= 4 && Number.isInteger(r[1]) && Number.isInteger(r[2]));
});

/** A 1x16x16 image in [0, 1] with structure (a gradient plus a bright square). */
function testImage(c = 1, h = 16, w = 16): Plane {
  const data = new Float32Array(c * h * w);
  for (let k = 0; k < c; k++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    data[(k * h + y) * w + x] = (x >= 4 && x < 9 && y >= 3 && y < 10 ? 0.9 : 0.1 + (0.5 * (x + y)) / (w + h)) - 0.02 * k;
  }
  return { data, c, h, w };
}

const SAMPLE: Record<string, Transform> = {
  randomResizedCrop: randomResizedCrop(12, { scale: [0.3, 1] }),
  randomRotation: randomRotation(30),
  randomRotationBilinear: randomRotation([-20, 20], { interpolation: 'bilinear', fill: 0.5 }),
  randomAffine: randomAffine(15, { translate: [0.1, 0.1], scale: [0.8, 1.2], shear: 10 }),
  colorJitter: colorJitter({ brightness: 0.4, contrast: 0.4 }),
  randomErasing: randomErasing({ p: 1 }),
  randomErasingRandom: randomErasing({ p: 1, value: 'random' }),
  gaussianBlur: gaussianBlur(5, [0.5, 2]),
  compose: compose(horizontalFlip(), randomResizedCrop(16, { scale: [0.5, 1] }), colorJitter({ brightness: 0.2 })),
};

test('random transforms: shapes, value ranges, determinism per seed, and variety across seeds', () => {
  for (const [name, t] of Object.entries(SAMPLE)) {
    const img = testImage();
    const shape = transformShape(t, [1, 16, 16]);
    const outs: Float32Array[] = [];
    for (let seed = 0; seed < 6; seed++) {
      const a = applyTransform(t, { ...img, data: img.data.slice() }, new cn.Generator(seed));
      const b = applyTransform(t, { ...img, data: img.data.slice() }, new cn.Generator(seed));
      assert.deepEqual([a.c, a.h, a.w], shape, `${name}: shape`);
      assert.deepEqual(Array.from(a.data), Array.from(b.data), `${name}: the same seed gives the same image`);
      if (name !== 'randomErasingRandom') {
        for (const v of a.data) assert.ok(v >= 0 && v <= 1 && Number.isFinite(v), `${name}: value ${v} outside [0, 1]`);
      }
      outs.push(Float32Array.from(a.data));
    }
    const distinct = new Set(outs.map((o) => Buffer.from(o.buffer).toString('base64'))).size;
    assert.ok(distinct >= 4, `${name}: only ${distinct} different results from 6 seeds`);
  }
});

test('random transforms are the identity at their neutral settings', () => {
  const img = testImage(3, 10, 14);
  const same = (t: Transform, what: string): void => {
    const out = applyTransform(t, { ...img, data: img.data.slice() }, new cn.Generator(5));
    assert.deepEqual(Array.from(out.data), Array.from(img.data), what);
  };
  same(randomRotation(0), 'rotation by 0 degrees');
  same(randomAffine(0), 'affine with nothing');
  same(colorJitter({ brightness: [1, 1], contrast: [1, 1] }), 'factors 1');
  same(randomErasing({ p: 0 }), 'erasing with p 0');
  same(randomResizedCrop([10, 14], { scale: [1, 1], ratio: [1.4, 1.4] }), 'the whole image at its own size');
  same(compose(), 'empty compose');
  // Arguments are checked when the transform is made.
  assert.throws(() => randomResizedCrop(28, { scale: [0.9, 0.1] }), /randomResizedCrop: scale must be a \[min, max\] pair with min <= max/);
  assert.throws(() => gaussianBlur(4), /gaussianBlur: kernelSize must be odd, got 4x4/);
  assert.throws(() => randomErasing({ p: 2 }), /randomErasing: p must be in \[0, 1\], got 2/);
  assert.throws(() => randomAffine(5, { shear: [1, 2, 3] }), /randomAffine: shear must be a number or 2 or 4 values/);
  assert.throws(() => transformShape(gaussianBlur(31), [1, 10, 10]), /gaussianBlur: a 31x31 kernel is too large for 10x10 images/);
  assert.throws(() => transformShape(randomRotation(5, { fill: [0, 1] }), [3, 8, 8]), /randomRotation: 2 fill values for 3 channels/);
});

// ---- (3) in the DataLoader -------------------------------------------------------------------

function augmentedData(): Dataset {
  const n = 40;
  const px = new Uint8Array(n * 16 * 16);
  const g = new cn.Generator(9);
  for (let i = 0; i < px.length; i++) px[i] = g.randint(256);
  return Dataset.fromArrays({ pixels: px, labels: Int32Array.from({ length: n }, (_, i) => i % 3), shape: [n, 1, 16, 16] }).withPipeline({
    augment: [
      compose(
        horizontalFlip(),
        randomResizedCrop(16, { scale: [0.5, 1] }),
        randomRotation(10),
        randomAffine(0, { translate: [0.1, 0.1] }),
        colorJitter({ brightness: 0.3, contrast: 0.3 }),
        gaussianBlur(3),
        randomErasing({ p: 0.5 }),
      ),
    ],
    transforms: [normalize(0.5, 0.25)],
  });
}

async function epochs(ds: Dataset, numWorkers: number, seed: number, count = 2): Promise<string[]> {
  const loader = new DataLoader(ds, { batchSize: 8, shuffle: true, numWorkers, seed });
  const out: string[] = [];
  for (let e = 0; e < count; e++) {
    for await (const { x, y } of loader) {
      out.push(Buffer.from((x.toArray() as Float32Array).buffer).toString('base64') + '|' + Array.from(y.toArray()).join(','));
      x.dispose();
      y.dispose();
    }
  }
  return out;
}

test('augmentation in the loader: same seed, same batches with 0, 1 and 3 workers; another seed, other batches', { timeout: 120_000 }, async () => {
  const ds = augmentedData();
  assert.equal(ds.isRandom, true);
  const base = await epochs(ds, 0, 7);
  assert.equal(base.length, 10);
  assert.deepEqual(await epochs(ds, 1, 7), base, '1 worker');
  assert.deepEqual(await epochs(ds, 3, 7), base, '3 workers');
  const other = await epochs(ds, 0, 8);
  assert.ok(other.every((b, i) => b !== base[i]), 'another seed changes every batch');
  // Epochs differ (a new augmentation seed per epoch), and augmentation changes the images.
  assert.notDeepEqual(base.slice(0, 5), base.slice(5));
  // (One epoch: without random transforms the loader draws no augmentation seed, so later epochs shuffle differently.)
  const plain = await epochs(ds.withPipeline({ augment: [] }), 0, 7, 1);
  assert.ok(plain.every((b, i) => b.split('|')[1] === base[i]!.split('|')[1]), 'the same samples (labels) in the same order');
  assert.ok(plain.every((b, i) => b.split('|')[0] !== base[i]!.split('|')[0]), 'but augmented pixels');
});
