/**
 * Autocast and mixed precision, checked on the meta backend (shapes and dtypes, no arithmetic, every
 * dtype): which ops run in bfloat16 (PyTorch's CPU lower-precision list: conv2d, linear, matmul),
 * which in float32 (losses, softmax, reductions), which follow their inputs; that float32 weights
 * get float32 gradients; the weight-cast cache; and the precision fallback of the Trainer on a
 * backend without bfloat16 kernels.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as cn from '../src/index.js';
import { resolvePrecision } from '../src/train/precision.js';
import { bf16Support } from '../src/backend/index.js';

test('autocast: conv2d / linear / matmul in bfloat16, softmax / losses / reductions in float32, the rest as their inputs', () => {
  cn.withBackend('meta', () => {
    const x = cn.randn([2, 3, 8, 8]);
    const w = cn.randn([4, 3, 3, 3], { requiresGrad: true });
    const b = cn.randn([4], { requiresGrad: true });
    const lw = cn.randn([10, 4 * 9], { requiresGrad: true });
    const seen: [string, string][] = [];
    const loss = cn.autocast({ dtype: 'bfloat16' }, () =>
      cn.withOpTracer(
        (c) => void seen.push([c.op, c.output.dtype]),
        () => {
          const h = cn.conv2d(x, w, b).relu(); // bf16 (conv), relu follows
          const p = cn.maxPool2d(h, 2).flatten(1); // follows: bf16
          const logits = cn.linear(p, lw); // bf16
          const probs = logits.softmax(1); // float32
          assert.equal(probs.dtype, 'float32');
          assert.equal(logits.mean().dtype, 'float32', 'reductions in float32');
          return cn.crossEntropy(logits, cn.tensor([1, 3], { dtype: 'int32' })); // float32
        },
      ),
    );
    const dtypeOf = (op: string): string[] => seen.filter(([o]) => o === op).map(([, d]) => d);
    assert.deepEqual(dtypeOf('conv2d'), ['bfloat16']);
    assert.deepEqual(dtypeOf('relu'), ['bfloat16']);
    assert.deepEqual(dtypeOf('maxPool2d'), ['bfloat16']);
    assert.deepEqual(dtypeOf('linear'), ['bfloat16']);
    assert.deepEqual(dtypeOf('crossEntropy'), ['float32']);
    assert.equal(loss.dtype, 'float32');
    // The float32 weights were cast once each (the cache), and get float32 gradients.
    assert.equal(seen.filter(([o, d]) => o === 'cast' && d === 'bfloat16').length, 4, 'x, w, b and lw cast once each');
    loss.backward();
    for (const p of [w, b, lw]) assert.equal(p.grad!.dtype, 'float32');
    // Outside the region nothing is cast.
    assert.equal(cn.conv2d(x, w, b).dtype, 'float32');
  });
});

test('autocast: { enabled: false } inside a region turns it off; async functions are refused', () => {
  cn.withBackend('meta', () => {
    const a = cn.randn([2, 3]);
    const m = cn.randn([3, 4]);
    cn.autocast({ dtype: 'bfloat16' }, () => {
      assert.equal(a.matmul(m).dtype, 'bfloat16');
      cn.autocast({ enabled: false }, () => assert.equal(a.matmul(m).dtype, 'float32'));
      assert.equal(a.matmul(m).dtype, 'bfloat16');
    });
    assert.throws(() => cn.autocast({ dtype: 'bfloat16' }, async () => 1), /autocast: the function returned a Promise/);
  });
});

test('bf16-mixed falls back to fp32 with a one-line reason where it cannot run', () => {
  const ref = cn.backendByName('reference');
  assert.deepEqual(bf16Support(ref), { ok: false, why: "the 'reference' backend has no bfloat16 convolution and linear kernels" });
  const r = resolvePrecision('bf16-mixed', ref);
  assert.equal(r.precision, 'fp32');
  assert.match(r.notice!, /^bf16-mixed is not available here \(the 'reference' backend has no bfloat16 convolution and linear kernels\): training in fp32$/);
  assert.deepEqual(resolvePrecision('fp32', ref), { precision: 'fp32', notice: null });
  assert.throws(() => resolvePrecision('fp16' as 'fp32', ref), /precision must be one of fp32, bf16-mixed, got 'fp16'/);
});
