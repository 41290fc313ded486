/**
 * dtypes: PyTorch's type promotion (values from torch.result_type in PyTorch 1.13, listed below),
 * bfloat16 host conversion (round to nearest even, NaN kept), float64 on the reference backend, and
 * the one-line errors when a backend lacks a dtype (for a tensor, or for an op's kernel).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as cn from '../src/index.js';
import { bfloat16ToFloat32, float32ToBfloat16, promoteTypes, resultType } from '../src/tensor/dtype.js';
import type { DType, Kernels } from '../src/backend/kernels.js';

test('resultType follows torch.result_type (tensors with dims > 0-d tensors > numbers, within a category)', () => {
  const t = (dtype: DType, ndim = 1) => ({ dtype, ndim });
  // [operands, what torch.result_type gives for zeros of those dtypes/ranks (or Python numbers)]
  const cases: [Parameters<typeof resultType>[0], DType][] = [
    [[t('int32'), t('int32')], 'int32'],
    [[t('int32'), t('float32')], 'float32'],
    [[t('bfloat16'), t('float32')], 'float32'],
    [[t('float32'), t('float64')], 'float64'],
    [[t('int32'), 2], 'int32'],
    [[t('int32'), 2.5], 'float32'],
    [[t('bfloat16'), 2.5], 'bfloat16'],
    [[t('float32'), t('float64', 0)], 'float32'],
    [[t('int32'), t('float64', 0)], 'float64'],
    [[t('bfloat16'), t('float32', 0)], 'bfloat16'],
    [[t('int32', 0), t('float32')], 'float32'],
    [[t('int32'), t('bfloat16', 0)], 'bfloat16'],
  ];
  for (const [ops, want] of cases) assert.equal(resultType(ops), want, JSON.stringify(ops));
  assert.equal(promoteTypes('bfloat16', 'float64'), 'float64');
});

test('bfloat16 bits: round to nearest even, NaN stays NaN, exact back to float32', () => {
  // 1 + 2^-8 is halfway between bf16 1 (0x3f80) and 1 + 2^-7 (0x3f81): ties to even -> 0x3f80.
  // 1 + 3·2^-8 is halfway between 0x3f81 and 0x3f82: ties to even -> 0x3f82.
  const src = new Float32Array([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -2.5, 65504, NaN, -Infinity, 1e-40]);
  const bits = float32ToBfloat16(src);
  assert.deepEqual([...bits.slice(0, 5)], [0x3f80, 0x3f80, 0x3f82, 0xc020, 0x4780]);
  assert.ok(Number.isNaN(bfloat16ToFloat32(bits)[5]!));
  assert.equal(bfloat16ToFloat32(bits)[6], -Infinity);
  assert.deepEqual([...bfloat16ToFloat32(Uint16Array.from([0x3fc0, 0xbf80]))], [1.5, -1]);
});

test('float64 on the reference backend: creation, ops, promotion, read back', () => {
  cn.withBackend('reference', () => {
    const a = cn.tensor([0.1, 0.2], { dtype: 'float64' });
    const s = a.add(cn.tensor([0.2, 0.1]));
    assert.equal(s.dtype, 'float64', 'float64 + float32 is float64');
    // The float32 operand holds float32(0.2) and float32(0.1); the sum is computed in float64.
    assert.deepEqual([...s.toArray()], [0.1 + Math.fround(0.2), 0.2 + Math.fround(0.1)]);
    assert.equal(a.float().dtype, 'float32');
    assert.equal(cn.randn([3], { dtype: 'float64' }).dtype, 'float64');
    assert.equal(cn.arange(3, undefined, 1, { dtype: 'float64' }).toArray().constructor, Float64Array);
  });
});

test('a dtype a backend lacks is one line naming the op (or creation), the dtype and the backend', () => {
  cn.withBackend('reference', () => {
    assert.throws(() => cn.tensor([1, 2], { dtype: 'bfloat16' }), /^Error: tensor: the 'reference' backend has no bfloat16 tensors \(it has float32, float64, int32\)$/);
    assert.throws(() => cn.zeros([2], { dtype: 'bfloat16' }), /^Error: full: the 'reference' backend has no bfloat16 tensors/);
    // A backend whose conv2d kernel has float32 only: a float64 convolution is refused by the runner.
    const ref = cn.getBackend();
    const limited: Kernels = { ...ref, name: 'limited', dtypes: { ...ref.dtypes, conv2d: ['float32'] } };
    const x = new cn.Tensor(ref.fromHost(new Float64Array(16), [1, 1, 4, 4], 'float64'), [1, 1, 4, 4], 'float64', limited);
    const w = new cn.Tensor(ref.fromHost(new Float64Array(9), [1, 1, 3, 3], 'float64'), [1, 1, 3, 3], 'float64', limited);
    assert.throws(() => cn.conv2d(x, w), /^Error: conv2d: the 'limited' backend has no float64 kernel for conv2d \(it has float32\)$/);
  });
  if (cn.nativeAvailable()) {
    cn.withBackend('native', () => assert.throws(() => cn.tensor([1], { dtype: 'float64' }), /tensor: the 'native' backend has no float64 tensors/));
  }
});
