/**
 * Bilinear resize against PyTorch 1.13. The expected numbers were printed once by
 *   F.interpolate(x, size, mode='bilinear', align_corners=False[, antialias=True])
 * (python3 with Debian's python3-torch) for x[0, c, i, j] = ((7i + 3j + 5c) % 11) / 10 and for
 * the first Fashion-MNIST training image / 255; they are hard-coded so the test needs no Python.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resizeBilinear, loadFashionMnistSplit } from '../src/data/index.js';

function pattern(c: number, h: number, w: number): Float32Array {
  const x = new Float32Array(c * h * w);
  for (let k = 0; k < c; k++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) x[(k * h + i) * w + j] = ((i * 7 + j * 3 + k * 5) % 11) / 10;
  return x;
}

function close(actual: ArrayLike<number>, expected: readonly number[], tol = 1e-5): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i]! - expected[i]!) <= tol)) assert.fail(`index ${i}: ${actual[i]} vs torch ${expected[i]}`);
  }
}

// prettier-ignore
const UP_3x4_5x7 = [0, 0.10714287, 0.27857146, 0.45000005, 0.62142867, 0.79285717, 0.89999998, 0.28000003, 0.38714287, 0.55857146, 0.50999999, 0.46142864, 0.63285714, 0.74000001, 0.69999999, 0.80714279, 0.97857141, 0.5999999, 0.22142865, 0.39285719, 0.49999997, 0.45999998, 0.56714284, 0.73857147, 0.69, 0.59428573, 0.38857135, 0.25999999, 0.30000001, 0.40714285, 0.5785715, 0.75000006, 0.84285706, 0.38571414, 0.1];
// prettier-ignore
const DOWN_2x6x8_3x5 = [0.44, 0.42499998, 0.57499999, 0.23000003, 0.71000004, 0.57499999, 0.67000002, 0.32499999, 0.53000003, 0.625, 0.49000001, 0.47499996, 0.35000002, 0.77499998, 0.37499997, 0.39000002, 0.37499997, 0.52499998, 0.67499995, 0.27499998, 0.52499998, 0.62, 0.55000001, 0.42500001, 0.41000003, 0.44, 0.42499998, 0.57499999, 0.23000003, 0.71000004];
// prettier-ignore
const AA_6x8_3x5 = [0.4655844, 0.54232806, 0.51547623, 0.38095239, 0.65584421, 0.60397726, 0.53518516, 0.40520835, 0.51203704, 0.59602267, 0.54415584, 0.46984127, 0.37678573, 0.62857145, 0.45584413];

test('upsampling matches F.interpolate(bilinear, align_corners=False)', () => {
  close(resizeBilinear(pattern(1, 3, 4), 1, 3, 4, 5, 7), UP_3x4_5x7);
  // antialias=True has the same taps when upsampling (torch's aa result agrees within 1e-7).
  close(resizeBilinear(pattern(1, 3, 4), 1, 3, 4, 5, 7, { antialias: true }), UP_3x4_5x7);
});

test('downsampling, two channels, matches F.interpolate without antialias', () => {
  close(resizeBilinear(pattern(2, 6, 8), 2, 6, 8, 3, 5), DOWN_2x6x8_3x5);
});

test('antialiased downsampling matches F.interpolate(..., antialias=True)', () => {
  close(resizeBilinear(pattern(1, 6, 8), 1, 6, 8, 3, 5, { antialias: true }), AA_6x8_3x5);
});

test('a non-power-of-two ratio (410 -> 224) matches torch: float32 scale, as torch computes it', () => {
  // F.interpolate(pattern(1, 3, 410), size=(2, 224), ...) sums and samples.
  const cases = [
    { aa: false, sum: 222.221341, pts: [[0, 0.29955357], [17, 0.55937529], [101, 0.48437658], [150, 0.19140221], [223, 0.48962083], [224, 0.5245536], [300, 0.45669761], [447, 0.71462083]] },
    { aa: true, sum: 224.173528, pts: [[0, 0.40691248], [17, 0.47358871], [101, 0.46606183], [150, 0.42829037], [223, 0.48237392], [224, 0.59441245], [300, 0.52802432], [447, 0.66987389]] },
  ];
  for (const { aa, sum, pts } of cases) {
    const y = resizeBilinear(pattern(1, 3, 410), 1, 3, 410, 2, 224, { antialias: aa });
    assert.ok(Math.abs(y.reduce((a, b) => a + b, 0) - sum) < 1e-3, `antialias=${aa}: sum`);
    for (const [i, v] of pts) assert.ok(Math.abs(y[i!]! - v!) < 1e-5, `antialias=${aa}: [${i}] = ${y[i!]} vs torch ${v}`);
  }
});

test('same size is the identity; bad sizes are rejected; out is used', () => {
  const x = pattern(3, 4, 5);
  assert.deepEqual(Array.from(resizeBilinear(x, 3, 4, 5, 4, 5)), Array.from(x));
  assert.throws(() => resizeBilinear(x, 3, 4, 5, 0, 5), /outH must be a positive integer/);
  assert.throws(() => resizeBilinear(x, 3, 5, 5, 4, 5), /need 3x5x5/);
  const out = new Float32Array(3 * 8 * 10);
  assert.equal(resizeBilinear(x, 3, 4, 5, 8, 10, { out }), out);
});

test('the first Fashion-MNIST image resized to 224 and 96 matches PyTorch', () => {
  const { images } = loadFashionMnistSplit('train');
  const img = Float32Array.from(images.subarray(0, 784), (v) => v / 255);
  const cases = [
    {
      s: 224,
      sum: 19136.502226,
      wsum: 114819.301098,
      pts: [[112, 112, 0.88454354], [74, 149, 0.90796572], [150, 201, 0.88377756], [120, 30, 0.007935049], [200, 100, 0.48854166], [30, 110, 0.013786766], [0, 0, 0], [223, 223, 0]],
    },
    {
      s: 96,
      sum: 3513.263218,
      wsum: 21083.252389,
      pts: [[48, 48, 0.87826627], [32, 64, 0.91098857], [64, 86, 0.88450265], [51, 12, 0.0080644144], [85, 42, 0.59912753], [12, 47, 0.0072916513], [95, 95, 0]],
    },
  ];
  for (const { s, sum, wsum, pts } of cases) {
    const y = resizeBilinear(img, 1, 28, 28, s, s);
    let total = 0;
    let weighted = 0; // sum of y[i] * (i % 13), to catch misplaced values
    for (let i = 0; i < y.length; i++) {
      total += y[i]!;
      weighted += y[i]! * (i % 13);
    }
    assert.ok(Math.abs(total - sum) < 2e-3, `${s}: sum ${total} vs torch ${sum}`);
    assert.ok(Math.abs(weighted - wsum) < 2e-2, `${s}: weighted sum ${weighted} vs torch ${wsum}`);
    for (const [i, j, v] of pts) assert.ok(Math.abs(y[i! * s + j!]! - v!) < 1e-5, `${s}: [${i}, ${j}] = ${y[i! * s + j!]} vs torch ${v}`);
  }
  // Antialiased 28 -> 10 (F.interpolate(..., size=(10, 10), antialias=True)).
  const small = resizeBilinear(img, 1, 28, 28, 10, 10, { antialias: true });
  assert.ok(Math.abs(small.reduce((a, b) => a + b, 0) - 38.752821) < 1e-4);
  for (const [i, j, v] of [[0, 0, 0], [5, 5, 0.84979343], [3, 7, 0.82184899], [9, 2, 0.10894272]] as const) {
    assert.ok(Math.abs(small[i * 10 + j]! - v) < 1e-5, `aa10 [${i}, ${j}] = ${small[i * 10 + j]} vs ${v}`);
  }
});
