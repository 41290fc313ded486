/**
 * Figures: the curves SVG (well-formed, points where the documented axis mapping puts them),
 * SVG → PNG (size and series colours read back with sharp), the first-layer filter grid (every
 * pixel against values normalised by hand), and confusion matrices (counts, totals, heat map).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as cn from '../src/index.js';
import type { EpochRecord } from '../src/train/trainer.js';
import { curvesSvg } from '../src/viz/curves.js';
import { svgToPng } from '../src/viz/png.js';
import { saveFiltersPng } from '../src/viz/filters.js';
import { confusionMatrix, confusionMatrixText, confusionSvg, saveConfusionPng } from '../src/viz/confusion.js';

function rec(epoch: number, trainLoss: number, valLoss: number, valAcc: number): EpochRecord {
  return { epoch, trainLoss, valLoss, valAcc, imagesPerSec: 1000, seconds: 1, trainImages: 1000, trainSeconds: 1 };
}

/** Fails unless every tag is closed in order (a minimal XML well-formedness check). */
function assertBalanced(svg: string): void {
  const stack: string[] = [];
  const tags = svg.match(/<[^>]*>/g) ?? [];
  assert.ok(tags.length > 0, 'no tags');
  for (const t of tags) {
    if (t.startsWith('<?') || t.startsWith('<!')) continue;
    assert.match(t, /^<\/?[a-zA-Z][\w-]*(\s+[\w:-]+="[^"<]*")*\s*\/?>$/, `malformed tag ${t}`);
    const name = /^<\/?([\w-]+)/.exec(t)![1]!;
    if (t.startsWith('</')) assert.equal(stack.pop(), name, `closing </${name}> does not match`);
    else if (!t.endsWith('/>')) stack.push(name);
  }
  assert.deepEqual(stack, [], 'unclosed tags');
  assert.ok(svg.trimStart().startsWith('<svg'), 'not an SVG document');
  // Text between tags must not contain a raw '<' or an unescaped '&'.
  for (const text of svg.split(/<[^>]*>/)) assert.doesNotMatch(text, /&(?!amp;|lt;|gt;|quot;|#\d+;)/);
}

function attr(tag: string, name: string): number {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  assert.ok(m, `${name} missing in ${tag}`);
  return Number(m[1]);
}

function plotArea(svg: string): { x: number; y: number; w: number; h: number } {
  const tag = /<rect class="plot-area"[^>]*>/.exec(svg)?.[0];
  assert.ok(tag, 'no plot-area rect');
  return { x: attr(tag, 'x'), y: attr(tag, 'y'), w: attr(tag, 'width'), h: attr(tag, 'height') };
}

/** Points of one series as [epoch, cx, cy]. */
function points(svg: string, series: string): number[][] {
  return [...svg.matchAll(new RegExp(`<circle data-series="${series}"[^>]*>`, 'g'))].map((m) => [attr(m[0], 'data-epoch'), attr(m[0], 'cx'), attr(m[0], 'cy')]);
}

function near(actual: number, expected: number, what: string, tol = 0.011): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs expected ${expected}`);
}

async function rawPixels(path: string): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

function hex(c: string): number[] {
  return [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));
}

function withTmp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'convnet-viz-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

const RECORDS = [rec(1, 0.8, 0.6, 0.5), rec(2, 0.4, 0.45, 0.75), rec(3, 0.3, 0.35, 0.9)];

test('curvesSvg: well-formed, three series at the documented axis positions', () => {
  const svg = curvesSvg(RECORDS, { maxEpochs: 4, title: 'LeNet <fashion> & co' });
  assertBalanced(svg);
  assert.match(svg, /LeNet &lt;fashion&gt; &amp; co/);
  assert.match(svg, /width="640" height="400"/);
  for (const label of ['train loss', 'val loss', 'val acc', 'epoch']) assert.ok(svg.includes(`>${label}</text>`), `label ${label}`);
  const a = plotArea(svg);
  assert.ok(a.x >= 30 && a.y >= 30 && a.x + a.w <= 640 && a.y + a.h <= 400 - 30, `plot area ${JSON.stringify(a)} leaves room for labels`);
  // x: epochs 0..maxEpochs=4 across the plot width; y: all values lie in [0, 1], so the axis is
  // exactly [0, 1] (1 is already a nice tick) and v maps to y0 + h·(1 − v).
  const ex = (e: number): number => a.x + (e / 4) * a.w;
  const ey = (v: number): number => a.y + a.h * (1 - v);
  const fields = { trainLoss: 'trainLoss', valLoss: 'valLoss', valAcc: 'valAcc' } as const;
  for (const key of Object.values(fields)) {
    const pts = points(svg, key);
    assert.equal(pts.length, 3, `${key} points`);
    RECORDS.forEach((r, i) => {
      assert.equal(pts[i]![0], r.epoch);
      near(pts[i]![1]!, ex(r.epoch), `${key} x @${r.epoch}`);
      near(pts[i]![2]!, ey(r[key]), `${key} y @${r.epoch}`);
    });
  }
  // Tick labels 0..4 on x and 0.0..1.0 on y.
  for (const t of ['0', '1', '2', '3', '4', '0.0', '0.2', '0.4', '0.6', '0.8', '1.0']) assert.ok(svg.includes(`>${t}</text>`), `tick ${t}`);
});

test("curvesSvg: the training loss within epochs (d2l's ProgressBoard) at fractional epochs, with the running epoch's points", () => {
  const withCurves: EpochRecord[] = [
    { ...rec(1, 0.8, 0.6, 0.5), trainCurve: [{ epoch: 0.2, loss: 0.95 }, { epoch: 0.7, loss: 0.7 }] },
    rec(2, 0.4, 0.45, 0.75), // a record without trainCurve (older checkpoints): its epoch mean at its end
  ];
  const svg = curvesSvg(withCurves, { maxEpochs: 4, current: [{ epoch: 2.25, loss: 0.35 }, { epoch: 2.5, loss: 1.3 }] });
  assertBalanced(svg);
  const a = plotArea(svg);
  // 1.3 > 1 widens the y axis to nice ticks; its top is the largest y tick label.
  const yTicks = /<g class="y-ticks"[^>]*>([\s\S]*?)<\/g>/.exec(svg)![1]!;
  const top = Math.max(...[...yTicks.matchAll(/>([\d.]+)<\/text>/g)].map((m) => Number(m[1])));
  assert.ok(top >= 1.3 && top <= 2, `y axis top ${top}`);
  const ex = (e: number): number => a.x + (e / 4) * a.w;
  const ey = (v: number): number => a.y + (a.h * (top - v)) / top;
  const pts = points(svg, 'trainLoss');
  const expected = [[0.2, 0.95], [0.7, 0.7], [2, 0.4], [2.25, 0.35], [2.5, 1.3]];
  assert.equal(pts.length, expected.length);
  expected.forEach(([e, v], i) => {
    assert.ok(Math.abs(pts[i]![0]! - e!) < 1e-9, `x label ${pts[i]![0]} vs ${e}`);
    near(pts[i]![1]!, ex(e!), `train x @${e}`);
    near(pts[i]![2]!, ey(v!), `train y @${e}`);
  });
  // Validation stays one point per finished epoch.
  assert.deepEqual(points(svg, 'valAcc').map((p) => p[0]), [1, 2]);
  // Points of a running epoch alone are enough to leave the 'waiting' state.
  assert.doesNotMatch(curvesSvg([], { current: [{ epoch: 0.5, loss: 1 }] }), /waiting for the first epoch/);
});

test('curvesSvg: y axis widens to nice ticks, NaN values are skipped, empty input draws axes', () => {
  const svg = curvesSvg([rec(1, 2.3, NaN, NaN), rec(2, 1.2, 1.0, 0.6)], { title: '', width: 500, height: 300 });
  assertBalanced(svg);
  assert.doesNotMatch(svg, /class="title"/);
  const a = plotArea(svg);
  // Largest value 2.3 → ticks every 0.5 up to 2.5; no maxEpochs → x runs 0..2 (the last epoch).
  const ey = (v: number): number => a.y + (a.h * (2.5 - v)) / 2.5;
  for (const t of ['0.0', '0.5', '1.0', '1.5', '2.0', '2.5']) assert.ok(svg.includes(`>${t}</text>`), `tick ${t}`);
  const train = points(svg, 'trainLoss');
  near(train[0]![1]!, a.x + a.w / 2, 'x of epoch 1 of 2');
  near(train[0]![2]!, ey(2.3), 'y of 2.3');
  near(train[1]![1]!, a.x + a.w, 'x of epoch 2 of 2');
  assert.deepEqual(points(svg, 'valLoss').map((p) => p[0]), [2]);
  assert.deepEqual(points(svg, 'valAcc').map((p) => p[0]), [2]);
  near(points(svg, 'valAcc')[0]![2]!, ey(0.6), 'y of 0.6');

  const empty = curvesSvg([], { maxEpochs: 10 });
  assertBalanced(empty);
  assert.match(empty, /waiting for the first epoch/);
  assert.equal(points(empty, 'trainLoss').length, 0);
  assert.throws(() => curvesSvg(RECORDS, { width: 50, height: 50 }), /no room/);
});

test('svgToPng: PNG of the SVG size, series colours at the plotted points, atomic write', async () => {
  await withTmp(async (dir) => {
    const svg = curvesSvg(RECORDS, { maxEpochs: 4, width: 500, height: 320 });
    const path = join(dir, 'sub', 'curves.png');
    await svgToPng(svg, path);
    const meta = await sharp(path).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, 500);
    assert.equal(meta.height, 320);
    const img = await rawPixels(path);
    const colours = { trainLoss: '#1f77b4', valLoss: '#ff7f0e', valAcc: '#2ca02c' };
    for (const [key, colour] of Object.entries(colours)) {
      // Epoch-1 markers are ≥ 0.1·h apart, so each marker's centre pixel is the series colour alone.
      const [, cx, cy] = points(svg, key)[0]!;
      const i = (Math.floor(cy!) * img.width + Math.floor(cx!)) * img.channels;
      const got = [img.data[i]!, img.data[i + 1]!, img.data[i + 2]!];
      hex(colour).forEach((c, k) => assert.ok(Math.abs(got[k]! - c) <= 8, `${key} at (${cx}, ${cy}): rgb ${got} vs ${colour}`));
    }
    // Top-left corner is background white.
    assert.deepEqual([...img.data.subarray(0, 3)], [255, 255, 255]);
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['curves.png'], 'no temporary file left');
    await assert.rejects(svgToPng('<svg oops', join(dir, 'bad.png')), /svgToPng: could not render the SVG for .*bad\.png/);
    assert.equal(existsSync(join(dir, 'bad.png')), false);
  });
});

test('saveFiltersPng: grayscale grid, each kernel normalised to its own range, nearest-neighbour upscale, 1-px gaps', async () => {
  const k = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const kernels = [
    k, // ramp: v/8
    k.map((v) => -3 * v + 7), // reversed ramp with another scale and offset: (8 − v)/8
    k.map(() => 5), // constant: mid-grey
    k.map((v) => (v === 4 ? 0.25 : -1)), // one bright centre pixel
  ];
  const expected = [k.map((v) => v / 8), k.map((v) => (8 - v) / 8), k.map(() => 128 / 255), k.map((v) => (v === 4 ? 1 : 0))];
  const w = cn.tensor(kernels.flat(), { shape: [4, 1, 3, 3] });
  await withTmp(async (dir) => {
    const path = join(dir, 'filters.png');
    await saveFiltersPng(w, path, { scale: 2, columns: 3 });
    const img = await rawPixels(path);
    // 3 columns × (3·2 px + 1 gap) + 1 = 22 wide; 2 rows → 15 high.
    assert.equal(img.width, 22);
    assert.equal(img.height, 15);
    assert.equal((await sharp(path).metadata()).channels, 1, 'grayscale PNG');
    for (let y = 0; y < img.height; y++) {
      for (let x = 0; x < img.width; x++) {
        // Every 7th row/column is a gap; the tile index and kernel pixel follow from integer division.
        let want = 255;
        if (x % 7 !== 0 && y % 7 !== 0) {
          const tile = Math.floor(y / 7) * 3 + Math.floor(x / 7);
          const i = Math.floor(((y % 7) - 1) / 2);
          const j = Math.floor(((x % 7) - 1) / 2);
          want = tile < 4 ? Math.round(expected[tile]![i * 3 + j]! * 255) : 255;
        }
        // sharp hands the grey PNG back as RGB: every channel carries the grey level.
        const at: number = (y * img.width + x) * img.channels;
        assert.deepEqual([...img.data.subarray(at, at + 3)], [want, want, want], `pixel (${x}, ${y})`);
      }
    }
    // Defaults: ⌈√4⌉ = 2 columns, scale ⌈32/3⌉ = 11 → 2·(33 + 1) + 1 = 69 square.
    await saveFiltersPng(w, path);
    const meta = await sharp(path).metadata();
    assert.equal(meta.width, 69);
    assert.equal(meta.height, 69);
  });
  w.dispose();
});

test('saveFiltersPng: RGB kernels are normalised jointly over their three channels', async () => {
  // Kernel 0: R = 0, G = 1, B = 2 everywhere → R 0, G round(127.5) = 128, B 255.
  // Kernel 1: R = [-1, 1, 0, 0], G = 0, B = [0, 0, 0, 3] → range [-1, 3].
  const w = cn.tensor(
    [
      [[[0, 0], [0, 0]], [[1, 1], [1, 1]], [[2, 2], [2, 2]]],
      [[[-1, 1], [0, 0]], [[0, 0], [0, 0]], [[0, 0], [0, 3]]],
    ],
  );
  const n = (v: number): number => Math.round(((v + 1) / 4) * 255);
  await withTmp(async (dir) => {
    const path = join(dir, 'rgb.png');
    await saveFiltersPng(w, path, { scale: 1 });
    const img = await rawPixels(path);
    assert.equal(img.channels, 3);
    assert.equal(img.width, 2 * 3 + 1);
    assert.equal(img.height, 4);
    const at = (x: number, y: number): number[] => [...img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3)];
    assert.deepEqual(at(0, 0), [255, 255, 255]);
    for (const [x, y] of [[1, 1], [2, 1], [1, 2], [2, 2]]) assert.deepEqual(at(x!, y!), [0, 128, 255]);
    assert.deepEqual(at(4, 1), [n(-1), n(0), n(0)]);
    assert.deepEqual(at(5, 1), [n(1), n(0), n(0)]);
    assert.deepEqual(at(4, 2), [n(0), n(0), n(0)]);
    assert.deepEqual(at(5, 2), [n(0), n(0), n(3)]);
    assert.deepEqual(at(3, 1), [255, 255, 255], 'gap between tiles');
  });
  const two = cn.zeros([2, 2, 3, 3]);
  await assert.rejects(saveFiltersPng(two, join(tmpdir(), 'never.png')), /2 input channels/);
  w.dispose();
  two.dispose();
});

test('confusionMatrix counts (true, predicted) pairs; text has the totals and accuracy', () => {
  const labels = [0, 0, 0, 1, 1, 2, 2, 2, 2, 1];
  const preds = [0, 1, 0, 1, 1, 2, 0, 2, 2, 2];
  const m = confusionMatrix(Int32Array.from(preds), labels, 3);
  assert.deepEqual(m, [
    [2, 1, 0],
    [0, 2, 1],
    [1, 0, 3],
  ]);
  assert.throws(() => confusionMatrix([0, 3], [0, 1], 3), /prediction 1 is 3/);
  assert.throws(() => confusionMatrix([0], [0, 1], 3), /1 predictions but 2 labels/);
  assert.throws(() => confusionMatrix([0], [-1], 3), /label 0 is -1/);

  const text = confusionMatrixText(m, ['cat', 'dog', 'bird']);
  const lines = text.split('\n');
  assert.match(lines[0]!, /^true \\ predicted\s+cat\s+dog\s+bird\s+total$/);
  const rows = lines.slice(1, 5).map((l) => l.trim().split(/\s+/));
  assert.deepEqual(rows, [
    ['cat', '2', '1', '0', '3'],
    ['dog', '0', '2', '1', '3'],
    ['bird', '1', '0', '3', '4'],
    ['total', '3', '3', '4', '10'],
  ]);
  assert.equal(lines[5], 'accuracy: 0.7000 (7/10)');
  // Columns are right-aligned: every number ends where its header ends.
  const ends = [...lines[0]!.matchAll(/\S+/g)].slice(3).map((x) => x.index! + x[0].length);
  for (const l of lines.slice(1, 5)) assert.deepEqual([...l.matchAll(/\S+/g)].slice(1).map((x) => x.index! + x[0].length), ends);
  assert.throws(() => confusionMatrixText(m, ['a', 'b']), /2 class names for a 3x3 matrix/);
});

test('saveConfusionPng renders a heat map with row-normalised colours', async () => {
  const m = [
    [8, 2, 0],
    [0, 5, 5],
    [1, 0, 9],
  ];
  const names = ['T-shirt/top', 'Trouser', 'Ankle <boot>'];
  const svg = confusionSvg(m, names);
  assertBalanced(svg);
  assert.match(svg, /Ankle &lt;boot&gt;/);
  assert.match(svg, /accuracy 73\.33%/);
  await withTmp(async (dir) => {
    const path = join(dir, 'confusion.png');
    await saveConfusionPng(m, names, path);
    const img = await rawPixels(path);
    assert.equal(img.width, attr(/<svg[^>]*>/.exec(svg)![0], 'width'));
    // Cell colour: lerp from (247, 251, 255) to (8, 48, 107) by the row fraction; sampled 3 px inside
    // the cell's corner, away from the count text.
    for (const [r, c] of [[0, 0], [0, 1], [1, 1], [2, 0], [0, 2]]) {
      const tag = new RegExp(`<rect class="cell" data-row="${r}" data-col="${c}"[^>]*>`).exec(svg)![0];
      const x = attr(tag, 'x') + 3;
      const y = attr(tag, 'y') + 3;
      const f = m[r]![c]! / m[r]!.reduce((a, b) => a + b, 0);
      const want = [247 + (8 - 247) * f, 251 + (48 - 251) * f, 255 + (107 - 255) * f];
      const i = (y * img.width + x) * img.channels;
      want.forEach((v, k) => assert.ok(Math.abs(img.data[i + k]! - v) <= 2, `cell (${r}, ${c}) channel ${k}: ${img.data[i + k]} vs ${v}`));
    }
  });
});
