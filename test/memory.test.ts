/**
 * Memory is released deterministically: a loop of 1000 training steps of a small conv net keeps
 * the backend's live bytes and the process's resident memory flat, in float32 and in bf16 mixed
 * precision (autocast: bf16 copies of the weights and activations made and freed every step).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as cn from '../src/index.js';
import type { Tensor } from '../src/index.js';

function trainSteps(steps: number, onStep: (i: number) => void, bf16 = false): void {
  const gen = new cn.Generator(3);
  const param = (shape: number[], scale: number): Tensor => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: n }, () => gen.normal() * scale);
    return cn.tensor(data, { shape, requiresGrad: true });
  };
  const w1 = param([6, 1, 3, 3], 0.3);
  const b1 = param([6], 0);
  const w2 = param([10, 6 * 5 * 5], 0.05);
  const b2 = param([10], 0);
  const params: Tensor[] = [w1, b1, w2, b2];
  for (let i = 0; i < steps; i++) {
    cn.tidy(() => {
      const x = cn.randn([16, 1, 12, 12], { generator: gen });
      const y = cn.randint(0, 10, [16], { generator: gen });
      const forward = (): Tensor => {
        let h = cn.maxPool2d(cn.conv2d(x, w1, b1).relu(), { kernelSize: 2 });
        h = cn.linear(h.reshape([16, -1]), w2, b2);
        return cn.crossEntropy(h, y);
      };
      const loss = bf16 ? cn.autocast({ dtype: 'bfloat16' }, forward) : forward();
      loss.backward();
      cn.noGrad(() => {
        for (const p of params) {
          p.assign(p.sub(p.grad!.mul(0.05)));
          p.grad!.dispose();
          p.grad = null;
        }
      });
    });
    onStep(i);
  }
  for (const p of params) p.dispose();
}

for (const [backend, bf16] of [['native', false], ['reference', false], ['native', true]] as const) {
  test(`${backend}${bf16 ? ', bf16-mixed' : ''}: 1000 training steps keep live tensor memory and RSS flat`, (t) => {
    if (backend === 'native' && !cn.nativeAvailable()) {
      t.skip('native addon not built');
      return;
    }
    cn.withBackend(backend, () => {
      const k = cn.getBackend();
      const start = k.memoryInUse();
      let after100 = -1;
      let rss200 = 0;
      trainSteps(1000, (i) => {
        if (i === 99) after100 = k.memoryInUse();
        if (i === 199) rss200 = process.memoryUsage().rss;
        // Every step frees everything it created: live bytes equal the parameters' bytes.
        if (i >= 99) assert.equal(k.memoryInUse(), after100, `live bytes changed at step ${i + 1}`);
      }, bf16);
      const rssGrowth = process.memoryUsage().rss - rss200;
      assert.equal(k.memoryInUse(), start, 'disposing the parameters returns live bytes to the start');
      // 800 steps allocate ~1 GB in total; a leak of even one activation per step would add 10+ MB.
      assert.ok(rssGrowth < 24 * 1024 * 1024, `RSS grew by ${(rssGrowth / 1048576).toFixed(1)} MiB over 800 steps`);
    });
  });
}
