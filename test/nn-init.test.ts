/**
 * The public initializers and `*Like` creators no other test touched: kaimingNormal and xavierNormal
 * (their standard deviations from the fan rules, with the math in comments, checked on large
 * tensors; determinism per generator), and zerosLike / onesLike (shape, dtype, values).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as cn from '../src/index.js';
import { nn } from '../src/index.js';

/** Sample mean and standard deviation of a tensor's values. */
function stats(t: cn.Tensor): { mean: number; std: number } {
  const v = t.toArray();
  let s = 0;
  for (const x of v) s += x;
  const mean = s / v.length;
  let q = 0;
  for (const x of v) q += (x - mean) ** 2;
  return { mean, std: Math.sqrt(q / v.length) };
}

test('kaimingNormal: std = gain / sqrt(fan) for relu (fanIn), leaky_relu a, and fanOut', () => {
  cn.withBackend('reference', () => {
    // Conv weight [64, 32, 3, 3]: fanIn = 32*9 = 288, fanOut = 64*9 = 576 (PyTorch's fan rule).
    const w = cn.zeros([64, 32, 3, 3]);
    const g = new cn.Generator(1);
    // relu: gain sqrt(2) -> std = sqrt(2/288) = 0.08333
    const relu = stats(nn.init.kaimingNormal(w, { nonlinearity: 'relu', generator: g }));
    assert.ok(Math.abs(relu.std - Math.sqrt(2 / 288)) < 0.02 * Math.sqrt(2 / 288), `relu std ${relu.std}`);
    assert.ok(Math.abs(relu.mean) < 3 * Math.sqrt(2 / 288) / Math.sqrt(w.size), `mean ${relu.mean}`);
    // leaky_relu with a = 0.2: gain sqrt(2 / (1 + 0.04)) -> std = gain / sqrt(288)
    const leaky = stats(nn.init.kaimingNormal(w, { a: 0.2, generator: g }));
    const want = Math.sqrt(2 / 1.04) / Math.sqrt(288);
    assert.ok(Math.abs(leaky.std - want) < 0.02 * want, `leaky std ${leaky.std} vs ${want}`);
    // mode fanOut: std = sqrt(2/576)
    const out = stats(nn.init.kaimingNormal(w, { nonlinearity: 'relu', mode: 'fanOut', generator: g }));
    assert.ok(Math.abs(out.std - Math.sqrt(2 / 576)) < 0.02 * Math.sqrt(2 / 576), `fanOut std ${out.std}`);
    // The same generator state gives the same values; zero fan is a clear error.
    const a = nn.init.kaimingNormal(cn.zeros([8, 4]), { generator: new cn.Generator(5) }).toArray();
    const b = nn.init.kaimingNormal(cn.zeros([8, 4]), { generator: new cn.Generator(5) }).toArray();
    assert.deepEqual([...a], [...b]);
    assert.throws(() => nn.init.kaimingNormal(cn.zeros([4, 0])), /zero fan/);
  });
});

test('xavierNormal: std = gain * sqrt(2 / (fanIn + fanOut))', () => {
  cn.withBackend('reference', () => {
    // Linear weight [300, 500]: fanIn 500, fanOut 300 -> std = sqrt(2/800) = 0.05; with gain 2: 0.1.
    const w = cn.zeros([300, 500]);
    const s1 = stats(nn.init.xavierNormal(w, 1, { generator: new cn.Generator(2) }));
    assert.ok(Math.abs(s1.std - 0.05) < 0.001, `std ${s1.std}`);
    const s2 = stats(nn.init.xavierNormal(w, 2, { generator: new cn.Generator(3) }));
    assert.ok(Math.abs(s2.std - 0.1) < 0.002, `gain 2 std ${s2.std}`);
    assert.ok(Math.abs(s1.mean) < 0.0005, `mean ${s1.mean}`);
  });
});

test('zerosLike / onesLike keep the shape and dtype and fill 0 / 1', () => {
  cn.withBackend('reference', () => {
    const f = cn.randn([2, 3]);
    const i = cn.tensor([1, 2, 3], { dtype: 'int32' });
    const d = cn.tensor([0.5], { dtype: 'float64' });
    for (const [src, fill, fn] of [
      [f, 0, cn.zerosLike],
      [f, 1, cn.onesLike],
      [i, 0, cn.zerosLike],
      [i, 1, cn.onesLike],
      [d, 1, cn.onesLike],
    ] as const) {
      const t = fn(src);
      assert.deepEqual(t.shape, src.shape);
      assert.equal(t.dtype, src.dtype);
      assert.ok([...t.toArray()].every((v) => v === fill), `${fn.name} of ${src.dtype}`);
    }
    // Options override the dtype and ask for gradients.
    const z = cn.zerosLike(i, { dtype: 'float32', requiresGrad: true });
    assert.equal(z.dtype, 'float32');
    assert.equal(z.requiresGrad, true);
  });
});
