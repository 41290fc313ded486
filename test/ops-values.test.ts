/**
 * Ops layer: hand-worked values (the arithmetic is in the comments), shape rules, error messages
 * naming the op and the shapes, grad-mode behaviour, and memory hygiene. Every value test runs on
 * the reference backend and, when the addon is built, on the native one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as cn from '../src/index.js';
import type { BackendName, Tensor } from '../src/index.js';
import { backendByName } from '../src/backend/index.js';
import { assertClose, F32 } from './helpers/assert-close.js';

const backends: BackendName[] = cn.nativeAvailable() ? ['reference', 'native'] : ['reference'];

/** One test per backend; the body runs with that backend current, inside a tidy scope. */
function each(name: string, fn: () => void): void {
  for (const b of backends) {
    test(`${b}: ${name}`, () => cn.withBackend(b, () => cn.tidy(() => void fn())));
  }
}

function close(t: Tensor, expected: number[], label: string, tol = F32): void {
  assertClose(t.toArray(), expected, tol, label, t.shape);
}

/** x[r][c] = 4r + c + 1 as [1, 1, 4, 4]. */
function grid4(): Tensor {
  return cn.arange(1, 17).reshape([1, 1, 4, 4]);
}

if (!cn.nativeAvailable()) test('native backend: not built, its value tests are skipped', (t) => t.skip('native addon not built'));

// ---- elementwise ----------------------------------------------------------------------------

each('broadcasting add/sub/mul/div and scalars', () => {
  const a = cn.tensor([[1], [2]]); // [2, 1]
  const b = cn.tensor([10, 20, 30]); // [3]
  // [[1+10, 1+20, 1+30], [2+10, 2+20, 2+30]]
  const s = cn.add(a, b);
  assert.deepEqual(s.shape, [2, 3]);
  close(s, [11, 21, 31, 12, 22, 32], 'add');
  close(a.sub(b), [-9, -19, -29, -8, -18, -28], 'sub');
  close(a.mul(b), [10, 20, 30, 20, 40, 60], 'mul');
  close(b.div(a), [10, 20, 30, 5, 10, 15], 'div');
  close(b.add(1), [11, 21, 31], 'add scalar');
  close(cn.sub(1, b), [-9, -19, -29], 'reverse sub');
  close(cn.div(60, b), [6, 3, 2], 'reverse div');
  close(b.div(10).pow(2), [1, 4, 9], 'pow scalar');
  close(cn.pow(2, cn.tensor([0, 1, 3])), [1, 2, 8], 'reverse pow');
  close(cn.maximum(cn.tensor([1, 5, 3]), cn.tensor([4, 2, 3])), [4, 5, 3], 'maximum');
  close(cn.minimum(cn.tensor([1, 5, 3]), 2), [1, 2, 2], 'minimum scalar');
});

each('unary ops and clamp', () => {
  const x = cn.tensor([-2, -0.5, 0, 1, 4]);
  close(x.neg(), [2, 0.5, -0, -1, -4], 'neg');
  close(x.abs(), [2, 0.5, 0, 1, 4], 'abs');
  close(x.sign(), [-1, -1, 0, 1, 1], 'sign');
  close(x.square(), [4, 0.25, 0, 1, 16], 'square');
  close(x.relu(), [0, 0, 0, 1, 4], 'relu');
  close(x.clamp({ min: -1, max: 2 }), [-1, -0.5, 0, 1, 2], 'clamp');
  close(x.clamp(0, null), [0, 0, 0, 1, 4], 'clamp positional');
  const p = cn.tensor([1, 4, 0.25]);
  close(p.sqrt(), [1, 2, 0.5], 'sqrt');
  close(p.rsqrt(), [1, 0.5, 2], 'rsqrt');
  close(p.reciprocal(), [1, 0.25, 4], 'reciprocal');
  close(cn.tensor([0, 1]).exp(), [1, Math.E], 'exp');
  close(cn.tensor([1, Math.E]).log(), [0, 1], 'log');
  // sigmoid(0) = 1/2, sigmoid(ln 3) = 3/4; tanh(0) = 0, tanh(ln 2) = (2 - 1/2)/(2 + 1/2) = 0.6
  close(cn.tensor([0, Math.log(3)]).sigmoid(), [0.5, 0.75], 'sigmoid');
  close(cn.tensor([0, Math.log(2)]).tanh(), [0, 0.6], 'tanh');
  // gradients from the saved outputs: sigmoid' = y (1 - y) = 1/4 at 0, 3/4 * 1/4 = 3/16 at ln 3;
  // tanh' = 1 - y^2 = 1 at 0, 1 - 0.36 = 0.64 at ln 2 (scaled by an upstream gradient of 2)
  const xs = cn.tensor([0, Math.log(3)], { requiresGrad: true });
  xs.sigmoid().mul(2).sum().backward();
  close(xs.grad!, [0.5, 0.375], 'sigmoid backward');
  const xt = cn.tensor([0, Math.log(2)], { requiresGrad: true });
  xt.tanh().mul(2).sum().backward();
  close(xt.grad!, [2, 1.28], 'tanh backward');
});

each('comparisons give float32 1/0 and no gradient', () => {
  const a = cn.tensor([1, 2, 3], { requiresGrad: true });
  const b = cn.tensor([3, 2, 1]);
  close(a.gt(b), [0, 0, 1], 'gt');
  close(a.ge(b), [0, 1, 1], 'ge');
  close(a.lt(b), [1, 0, 0], 'lt');
  close(a.le(2), [1, 1, 0], 'le');
  close(a.eq(b), [0, 1, 0], 'eq');
  close(a.ne(b), [1, 0, 1], 'ne');
  assert.equal(a.gt(b).requiresGrad, false);
  assert.equal(a.gt(b).dtype, 'float32');
  // int32 operands (predicted classes vs labels): accuracy = mean(pred == y)
  const pred = cn.tensor([1, 2, 0, 2], { dtype: 'int32' });
  const y = cn.tensor([1, 0, 0, 2], { dtype: 'int32' });
  const acc = pred.eq(y).mean();
  assert.equal(acc.dtype, 'float32');
  close(acc, [0.75], 'accuracy');
  // PyTorch's type promotion: int32 op int32 (or an integral number) stays int32 for add, sub, mul,
  // maximum and minimum; a fractional number or a float tensor makes it float32; div is true division.
  close(pred.add(1), [2, 3, 1, 3], 'int32 + 1');
  assert.equal(pred.add(1).dtype, 'int32');
  assert.equal(pred.add(y).dtype, 'int32');
  close(pred.mul(y), [1, 0, 0, 4], 'int32 * int32');
  close(pred.sub(y).maximum(0), [0, 2, 0, 0], 'maximum(int32 - int32, 0)');
  assert.equal(pred.add(0.5).dtype, 'float32');
  close(pred.add(0.5), [1.5, 2.5, 0.5, 2.5], 'int32 + 0.5');
  assert.equal(pred.div(y.add(1)).dtype, 'float32');
  close(pred.div(2), [0.5, 1, 0, 1], 'int32 / 2 is true division');
  assert.equal(pred.add(cn.tensor([0.25])).dtype, 'float32');
});

// ---- activations ------------------------------------------------------------------------------

each('softmax and logSoftmax', () => {
  // softmax([1, 2, 3]) = e^i / (e + e^2 + e^3); logSoftmax = x - 3 - log(1 + e^-1 + e^-2) = x - 3.4076059644
  const x = cn.tensor([[1, 2, 3], [0, 0, 0]]);
  close(x.softmax(1), [0.09003057317, 0.24472847105, 0.66524095577, 1 / 3, 1 / 3, 1 / 3], 'softmax');
  close(x.logSoftmax(-1), [-2.40760596444, -1.40760596444, -0.40760596444, -Math.log(3), -Math.log(3), -Math.log(3)], 'logSoftmax');
  // along dim 0: column [1, 0] -> [e/(e+1), 1/(e+1)] = [0.7310586, 0.2689414]
  const s0 = cn.softmax(x, 0).toArray();
  assert.ok(Math.abs(s0[0]! - 0.7310585786) < 1e-6 && Math.abs(s0[3]! - 0.2689414214) < 1e-6);
});

// ---- reductions -------------------------------------------------------------------------------

each('sum/mean/max/min/argmax over dims, keepdim, negative dims', () => {
  const x = cn.tensor([[1, 5, 2], [7, 0, 7]]);
  close(x.sum(), [22], 'sum all');
  assert.deepEqual(x.sum().shape, []);
  close(x.sum(0), [8, 5, 9], 'sum dim 0');
  const k = x.sum(-1, { keepdim: true });
  assert.deepEqual(k.shape, [2, 1]);
  close(k, [8, 14], 'sum dim -1 keepdim');
  close(x.mean([0, 1]), [22 / 6], 'mean all dims');
  close(x.mean(1), [8 / 3, 14 / 3], 'mean dim 1');
  close(x.max(1), [5, 7], 'max dim 1');
  close(x.max(), [7], 'max all');
  close(x.min(0), [1, 0, 2], 'min dim 0');
  const am = x.argmax(1);
  assert.equal(am.dtype, 'int32');
  assert.deepEqual(Array.from(am.toArray()), [1, 0]); // row 1 ties at 0 and 2: the first wins
  assert.deepEqual(Array.from(x.argmax().toArray()), [3]); // flat index of the first 7
  assert.deepEqual(x.argmax(0, { keepdim: true }).shape, [1, 3]);
  assert.deepEqual(Array.from(x.argmin(1).toArray()), [0, 1]);
});

each('max backward splits the gradient among ties', () => {
  const x = cn.tensor([[1, 5, 2], [7, 0, 7]], { requiresGrad: true });
  x.max(1).sum().backward();
  close(x.grad!, [0, 1, 0, 0.5, 0, 0.5], 'max grad');
});

each('var: unbiased by default, correction 0, keepdim', () => {
  // [1, 2, 3, 4]: mean 2.5, squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5 -> 5/3 unbiased, 5/4 biased
  const x = cn.tensor([1, 2, 3, 4]);
  close(cn.var(x), [5 / 3], 'unbiased');
  close(x.var(null, { correction: 0 }), [1.25], 'biased');
  close(x.var(0, { unbiased: false }), [1.25], 'unbiased: false');
  // rows [1, 2] (mean 1.5, ssd 0.5) and [3, 5] (mean 4, ssd 2): unbiased 0.5 and 2
  const v = cn.tensor([[1, 2], [3, 5]]).var(1, { keepdim: true });
  assert.deepEqual(v.shape, [2, 1]);
  close(v, [0.5, 2], 'rows');
});

each('broadcast add then sum: gradients are summed back to each input shape', () => {
  const a = cn.tensor([[1], [2]], { requiresGrad: true });
  const b = cn.tensor([10, 20, 30], { requiresGrad: true });
  cn.add(a, b).mul(cn.tensor([[1, 2, 3], [4, 5, 6]])).sum().backward();
  // d/da[i] = sum_j w[i][j] = [6, 15]; d/db[j] = sum_i w[i][j] = [5, 7, 9]
  close(a.grad!, [6, 15], 'a.grad');
  close(b.grad!, [5, 7, 9], 'b.grad');
});

// ---- linear algebra ----------------------------------------------------------------------------

each('matmul: 2-D, 1-D, batched broadcast; linear', () => {
  // [[1,2],[3,4]] @ [[5,6],[7,8]] = [[1*5+2*7, 1*6+2*8], [3*5+4*7, 3*6+4*8]] = [[19, 22], [43, 50]]
  const a = cn.tensor([[1, 2], [3, 4]]);
  const b = cn.tensor([[5, 6], [7, 8]]);
  close(a.matmul(b), [19, 22, 43, 50], '2-D');
  const dot = cn.matmul(cn.tensor([1, 2, 3]), cn.tensor([4, 5, 6]));
  assert.deepEqual(dot.shape, []);
  close(dot, [32], 'dot'); // 4 + 10 + 18
  const mv = cn.matmul(a, cn.tensor([1, 1]));
  assert.deepEqual(mv.shape, [2]);
  close(mv, [3, 7], 'matrix-vector');
  const vm = cn.matmul(cn.tensor([1, 1]), a);
  assert.deepEqual(vm.shape, [2]);
  close(vm, [4, 6], 'vector-matrix');
  // batch dims [2, 1] and [3] broadcast to [2, 3]
  const A = cn.randn([2, 1, 3, 4]);
  const B = cn.randn([3, 4, 5]);
  const C = cn.matmul(A, B);
  assert.deepEqual(C.shape, [2, 3, 3, 5]);
  const c12 = cn.matmul(A.slice(0, 1, 2).reshape([3, 4]), B.slice(0, 2, 3).reshape([4, 5]));
  close(C.slice(0, 1, 2).slice(1, 2, 3).reshape([3, 5]), Array.from(c12.toArray()), 'batch [1, 2]', { atol: 1e-5, rtol: 1e-5 });
  // linear: x [1, 2] = [[1, 2]], w rows [1,0], [0,1], [1,1], b [0, 0, 1] -> [[1, 2, 1+2+1]]
  const y = cn.linear(cn.tensor([[1, 2]]), cn.tensor([[1, 0], [0, 1], [1, 1]]), cn.tensor([0, 0, 1]));
  close(y, [1, 2, 4], 'linear');
  // leading dims flattened and restored
  const y3 = cn.linear(cn.ones([2, 3, 2]), cn.tensor([[1, 0], [0, 1], [1, 1]]));
  assert.deepEqual(y3.shape, [2, 3, 3]);
  close(y3.sum(), [24], 'linear 3-D'); // 6 rows of [1, 1, 2]
});

// ---- shape ops ------------------------------------------------------------------------------------

each('reshape/view/flatten/squeeze/unsqueeze/permute/transpose', () => {
  const x = cn.arange(6).reshape(2, 3);
  assert.deepEqual(x.reshape([-1, 2]).shape, [3, 2]);
  assert.deepEqual(x.view(3, -1).shape, [3, 2]);
  assert.deepEqual(cn.flatten(cn.zeros([2, 3, 4])).shape, [24]);
  assert.deepEqual(cn.zeros([2, 3, 4, 5]).flatten(1).shape, [2, 60]);
  assert.deepEqual(cn.zeros([2, 3, 4, 5]).flatten(1, 2).shape, [2, 12, 5]);
  assert.deepEqual(cn.zeros([1, 3, 1]).squeeze().shape, [3]);
  assert.deepEqual(cn.zeros([1, 3, 1]).squeeze(0).shape, [3, 1]);
  assert.deepEqual(cn.zeros([1, 3, 1]).squeeze(1).shape, [1, 3, 1]);
  assert.deepEqual(cn.zeros([3]).unsqueeze(0).shape, [1, 3]);
  assert.deepEqual(cn.zeros([3]).unsqueeze(-1).shape, [3, 1]);
  // [[0, 1, 2], [3, 4, 5]]^T = [[0, 3], [1, 4], [2, 5]]
  close(x.transpose(0, 1), [0, 3, 1, 4, 2, 5], 'transpose');
  const p = cn.arange(24).reshape(2, 3, 4).permute(2, 0, 1);
  assert.deepEqual(p.shape, [4, 2, 3]);
  // p[i, j, k] = x[j, k, i] = 12j + 4k + i: p[1, 1, 2] = 12 + 8 + 1 = 21
  assert.equal((p.tolist() as number[][][])[1]![1]![2], 21);
  const ints = cn.tensor([[1, 2], [3, 4]], { dtype: 'int32' });
  assert.equal(ints.transpose(0, 1).dtype, 'int32');
  assert.deepEqual(Array.from(ints.transpose(0, 1).toArray()), [1, 3, 2, 4]);
});

each('cat/stack/slice/narrow/indexSelect/expand/sumTo', () => {
  const a = cn.tensor([[1, 2], [3, 4]]);
  const b = cn.tensor([[5], [6]]);
  const c = cn.cat([a, b], 1);
  assert.deepEqual(c.shape, [2, 3]);
  close(c, [1, 2, 5, 3, 4, 6], 'cat dim 1');
  close(cn.cat([a, a], 0), [1, 2, 3, 4, 1, 2, 3, 4], 'cat dim 0');
  const s = cn.stack([cn.tensor([1, 2]), cn.tensor([3, 4])], 1);
  assert.deepEqual(s.shape, [2, 2]);
  close(s, [1, 3, 2, 4], 'stack dim 1');
  const r = cn.arange(10);
  close(r.slice(0, 2, 5), [2, 3, 4], 'slice');
  close(r.slice(0, -3), [7, 8, 9], 'slice negative start');
  close(r.slice(0, 8, 100), [8, 9], 'slice clamps the end');
  close(cn.narrow(r, 0, 1, 2), [1, 2], 'narrow');
  const idx = cn.tensor([2, 0, 2], { dtype: 'int32' });
  close(cn.indexSelect(a.transpose(0, 1), 0, cn.tensor([1], { dtype: 'int32' })), [2, 4], 'indexSelect rows of the transpose');
  close(a.indexSelect(1, cn.tensor([1, 1, 0], { dtype: 'int32' })), [2, 2, 1, 4, 4, 3], 'indexSelect columns');
  close(cn.arange(3).indexSelect(0, idx), [2, 0, 2], 'indexSelect repeats');
  close(cn.tensor([[1], [2]]).expand(2, 3), [1, 1, 1, 2, 2, 2], 'expand');
  close(cn.tensor([1, 2]).expand([2, -1]), [1, 2, 1, 2], 'expand new leading dim');
  close(cn.broadcastTo(cn.tensor([7]), [2, 2]), [7, 7, 7, 7], 'broadcastTo');
  const e = cn.tensor([3, 4], { dtype: 'int32' }).expand(2, 2);
  assert.equal(e.dtype, 'int32');
  assert.deepEqual(Array.from(e.toArray()), [3, 4, 3, 4]);
  // sumTo([1, 3]) of [[1, 2, 3], [4, 5, 6]] = [[5, 7, 9]]; sumTo([2, 1]) = [[6], [15]]
  const m = cn.tensor([[1, 2, 3], [4, 5, 6]]);
  close(cn.sumTo(m, [1, 3]), [5, 7, 9], 'sumTo [1, 3]');
  close(cn.sumTo(m, [2, 1]), [6, 15], 'sumTo [2, 1]');
  close(cn.sumTo(m, [3]), [5, 7, 9], 'sumTo [3]');
  close(cn.sumTo(m, []), [21], 'sumTo []');
});

each('detach shares data and leaves the graph; clone copies with gradient', () => {
  const x = cn.tensor([1, 2, 3], { requiresGrad: true });
  const d = x.mul(2).detach();
  assert.equal(d.requiresGrad, false);
  assert.equal(d.gradFn, null);
  close(d, [2, 4, 6], 'detach');
  x.clone().mul(3).sum().backward();
  close(x.grad!, [3, 3, 3], 'clone grad');
});

// ---- conv / pool --------------------------------------------------------------------------------

each('conv2d: 3x3 by hand, with padding/stride, bias, unbatched', () => {
  // x[r][c] = 4r + c + 1; w = [[1, 2, 0], [0, 1, 0], [0, 0, -1]]:
  // y(i, j) = x[i][j] + 2 x[i][j+1] + x[i+1][j+1] - x[i+2][j+2]
  // (0,0) = 1 + 4 + 6 - 11 = 0; (0,1) = 2 + 6 + 7 - 12 = 3; (1,0) = 5 + 12 + 10 - 15 = 12; (1,1) = 6 + 14 + 11 - 16 = 15
  const x = grid4();
  const w = cn.tensor([[[[1, 2, 0], [0, 1, 0], [0, 0, -1]]]]);
  const y = cn.conv2d(x, w);
  assert.deepEqual(y.shape, [1, 1, 2, 2]);
  close(y, [0, 3, 12, 15], 'valid conv');
  close(cn.conv2d(x, w, cn.tensor([0.5])), [0.5, 3.5, 12.5, 15.5], 'bias');
  // padding 1, stride 2: windows start at rows/cols -1 and 1 (out = floor((4 + 2 - 3)/2) + 1 = 2)
  // (0,0) = x[0][0] - x[1][1] = 1 - 6 = -5; (0,1) = x[0][2] - x[1][3] = 3 - 8 = -5
  // (1,0) = 2 x[1][0] + x[2][0] - x[3][1] = 10 + 9 - 14 = 5; (1,1) = x[1][1] + 2 x[1][2] + x[2][2] - x[3][3] = 6 + 14 + 11 - 16 = 15
  close(cn.conv2d(x, w, null, { padding: 1, stride: 2 }), [-5, -5, 5, 15], 'padding 1 stride 2');
  // dilation 2 on a 5x5 input of ones with a 2x2 ones kernel: every window sums 4 ones; out = 5 - 2 = 3
  const yd = cn.conv2d(cn.ones([1, 1, 5, 5]), cn.ones([1, 1, 2, 2]), null, { dilation: 2 });
  assert.deepEqual(yd.shape, [1, 1, 3, 3]);
  close(yd, new Array(9).fill(4), 'dilation');
  // groups 2: channel 0 scaled by 1, channel 1 by 10 (1x1 kernels)
  const xg = cn.cat([cn.ones([1, 1, 2, 2]), cn.full([1, 1, 2, 2], 2)], 1);
  const yg = cn.conv2d(xg, cn.tensor([1, 10]).reshape(2, 1, 1, 1), null, { groups: 2 });
  close(yg, [1, 1, 1, 1, 20, 20, 20, 20], 'groups');
  const yu = cn.conv2d(x.reshape(1, 4, 4), w);
  assert.deepEqual(yu.shape, [1, 2, 2]);
  close(yu, [0, 3, 12, 15], 'unbatched');
  assert.deepEqual(cn.conv2d(cn.zeros([2, 3, 28, 28]), cn.zeros([6, 3, 5, 5]), null, { padding: 2 }).shape, [2, 6, 28, 28]);
  assert.equal(cn.convOutSize(224, 11, 4, 1, 1), 54);
});

each('maxPool2d/avgPool2d 2x2 and with padding; adaptiveAvgPool2d', () => {
  const x = grid4();
  // 2x2 windows of [[1..4], [5..8], [9..12], [13..16]]: maxima 6, 8, 14, 16; means 3.5, 5.5, 11.5, 13.5
  close(cn.maxPool2d(x, 2), [6, 8, 14, 16], 'max 2x2');
  close(cn.avgPool2d(x, { kernelSize: 2 }), [3.5, 5.5, 11.5, 13.5], 'avg 2x2');
  // kernel 2, stride 2, padding 1 -> out floor((4 + 2 - 2)/2) + 1 = 3; windows rows {-1,0}, {1,2}, {3,4}
  const mp = cn.maxPool2d(x, { kernelSize: 2, padding: 1 });
  assert.deepEqual(mp.shape, [1, 1, 3, 3]);
  close(mp, [1, 3, 4, 9, 11, 12, 13, 15, 16], 'max padded');
  // countIncludePad: divide by 4 always: (0,0) = 1/4, (0,1) = (2+3)/4, (1,1) = (6+7+10+11)/4 = 8.5 ...
  close(cn.avgPool2d(x, { kernelSize: 2, padding: 1 }), [0.25, 1.25, 1, 3.5, 8.5, 5, 3.25, 7.25, 4], 'avg padded');
  // countIncludePad false: divide by the number of real elements
  close(cn.avgPool2d(x, { kernelSize: 2, padding: 1, countIncludePad: false }), [1, 2.5, 4, 7, 8.5, 10, 13, 14.5, 16], 'avg padded exclusive');
  // kernel 3, stride 1 (positional form with options)
  close(cn.maxPool2d(x, 3, { stride: 1 }), [11, 12, 15, 16], 'max 3x3 stride 1');
  close(cn.adaptiveAvgPool2d(x, 1), [8.5], 'global average');
  // 4 -> 3 bins: [0, 2), [1, 3), [2, 4) = 2x2 windows at stride 1
  close(cn.adaptiveAvgPool2d(x, [3, 3]), [3.5, 4.5, 5.5, 7.5, 8.5, 9.5, 11.5, 12.5, 13.5], 'adaptive 3x3');
  assert.deepEqual(cn.adaptiveAvgPool2d(x, [null, 2]).shape, [1, 1, 4, 2]);
  // max-pool backward: the gradient lands on the maxima 6, 8, 14, 16 (flat 5, 7, 13, 15)
  const xg = grid4().detach();
  xg.requiresGrad = true;
  cn.maxPool2d(xg, 2).sum().backward();
  close(xg.grad!, [0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1], 'max-pool grad');
});

// ---- batch norm ------------------------------------------------------------------------------------

each('batchNorm: train step on a tiny batch, running stats with the unbiased variance, then eval', () => {
  // channel 0: [1, 2, 3, 4] mean 2.5, biased var 5/4, unbiased 5/3; channel 1 = 10x: mean 25, var 125 / 500/3
  const x = cn.tensor([[1, 10], [2, 20], [3, 30], [4, 40]]);
  const rm = cn.zeros([2]);
  const rv = cn.ones([2]);
  const w = cn.tensor([2, 1]);
  const b = cn.tensor([0, 1]);
  const y = cn.batchNorm(x, rm, rv, w, b, { training: true, eps: 0 });
  // xhat = [-1.5, -0.5, 0.5, 1.5] / sqrt(1.25) = [-1.3416408, -0.4472136, 0.4472136, 1.3416408] in both channels
  // channel 0: 2 * xhat; channel 1: xhat + 1
  const h = [-1.3416407865, -0.4472135955, 0.4472135955, 1.3416407865];
  close(y, h.flatMap((v) => [2 * v, v + 1]), 'train output');
  // running = 0.9 * old + 0.1 * stat: mean [0.25, 2.5]; var 0.9 + 0.1 * [5/3, 500/3] = [1.0666667, 17.566667]
  close(rm, [0.25, 2.5], 'running mean');
  close(rv, [0.9 + 0.5 / 3, 0.9 + 50 / 3], 'running var (unbiased)');
  // eval with the running stats, no weight/bias: (1 - 0.25)/sqrt(1.0666667) = 0.7261844, (10 - 2.5)/sqrt(17.566667) = 1.7894377
  const ye = cn.batchNorm(cn.tensor([[1, 10]]), rm, rv, null, null, { eps: 0 });
  close(ye, [0.7261843774, 1.7894377012], 'eval output');
  close(rm, [0.25, 2.5], 'eval leaves running mean alone');
  // 4-D: per-channel stats over N, H, W. Channel c of x4 is c + [0, 1, 2, 3] over a 2x2 image, N = 1
  const x4 = cn.tensor([[[[0, 1], [2, 3]], [[1, 2], [3, 4]]]]);
  const rm4 = cn.zeros([2]);
  const rv4 = cn.ones([2]);
  const y4 = cn.batchNorm(x4, rm4, rv4, null, null, { training: true, momentum: 0.5, eps: 0 });
  close(y4, [...h, ...h], '4-D output');
  // momentum 0.5: mean 0.5 * [1.5, 2.5]; var 0.5 + 0.5 * 5/3
  close(rm4, [0.75, 1.25], '4-D running mean');
  close(rv4, [0.5 + 2.5 / 3, 0.5 + 2.5 / 3], '4-D running var');
});

// ---- losses, dropout, resize ---------------------------------------------------------------------

each('crossEntropy of a 2x3 example (mean/sum/none) and its gradient; mseLoss', () => {
  // row 0: logits [1, 2, 3], target 2: logsumexp = 3 + log(1 + e^-1 + e^-2) = 3.4076060, loss 0.4076060
  // row 1: logits [1, 1, 1], target 0: loss log 3 = 1.0986123; mean 0.7531091, sum 1.5062182
  const logits = cn.tensor([[1, 2, 3], [1, 1, 1]], { requiresGrad: true });
  const y = cn.tensor([2, 0], { dtype: 'int32' });
  const loss = cn.crossEntropy(logits, y);
  assert.deepEqual(loss.shape, []);
  close(loss, [0.7531091266], 'mean');
  close(cn.crossEntropy(logits, y, { reduction: 'sum' }), [1.5062182531], 'sum');
  close(cn.crossEntropy(logits, y, { reduction: 'none' }), [0.4076059644, 1.0986122887], 'none');
  loss.backward();
  // d/dlogits = (softmax - onehot) / N
  const sm = [0.09003057317, 0.24472847105, 0.66524095577];
  close(logits.grad!, [sm[0]! / 2, sm[1]! / 2, (sm[2]! - 1) / 2, (1 / 3 - 1) / 2, 1 / 6, 1 / 6], 'grad');
  // mse: ([1, 2, 3] - [1, 1, 1])^2 = [0, 1, 4]: mean 5/3, sum 5
  const p = cn.tensor([1, 2, 3]);
  const t = cn.ones([3]);
  close(cn.mseLoss(p, t), [5 / 3], 'mse mean');
  close(cn.mseLoss(p, t, { reduction: 'sum' }), [5], 'mse sum');
  close(cn.mseLoss(p, t, { reduction: 'none' }), [0, 1, 4], 'mse none');
});

each('dropout: seeded mask, scaling, identity in eval, p = 1 gives zeros', () => {
  const x = cn.ones([1000]);
  const y = cn.dropout(x, { p: 0.25, generator: new cn.Generator(5) });
  const v = y.toArray();
  let kept = 0;
  for (const e of v) {
    assert.ok(e === 0 || Math.abs(e - 4 / 3) < 1e-6, `dropout value ${e}`);
    if (e !== 0) kept++;
  }
  assert.ok(kept > 700 && kept < 800, `kept ${kept} of 1000 at p = 0.25`);
  // same seed, same mask
  assert.deepEqual(Array.from(cn.dropout(x, { p: 0.25, generator: new cn.Generator(5) }).toArray()), Array.from(v));
  // the mask follows the generator: u < 1 - p kept
  const g = new cn.Generator(5);
  const expected = Array.from({ length: 1000 }, () => (g.random() < 0.75 ? 4 / 3 : 0));
  close(y, expected, 'mask');
  assert.equal(cn.dropout(x, { p: 0.5, training: false }), x);
  assert.equal(cn.dropout(x, { p: 0 }), x);
  close(cn.dropout(cn.ones([4]), { p: 1 }), [0, 0, 0, 0], 'p = 1');
});

each('interpolate: bilinear 2x2 -> 4x4 matches PyTorch (align_corners=False)', () => {
  // source row for output row o: (o + 0.5) * 2/4 - 0.5 = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to row 1)
  const y = cn.interpolate(cn.tensor([[[[1, 2], [3, 4]]]]), { size: [4, 4] });
  assert.deepEqual(y.shape, [1, 1, 4, 4]);
  close(y, [1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0], 'bilinear');
  assert.deepEqual(cn.interpolate(cn.zeros([2, 3, 5, 7]), { scaleFactor: 2 }).shape, [2, 3, 10, 14]);
});

// ---- grad mode, errors, memory -------------------------------------------------------------------

each('noGrad records nothing', () => {
  const x = cn.randn([2, 3, 6, 6], { requiresGrad: true });
  const w = cn.randn([4, 3, 3, 3], { requiresGrad: true });
  const y = cn.tensor([1, 3], { dtype: 'int32' });
  const outs = cn.noGrad(() => {
    const h = cn.maxPool2d(cn.conv2d(x, w, null, { padding: 1 }).relu(), 2);
    const bn = cn.batchNorm(h, null, null, null, null, { training: true });
    const logits = cn.linear(bn.flatten(1), cn.randn([4, 36], { requiresGrad: true }));
    return [h, bn, logits, cn.crossEntropy(logits, y), x.add(1), x.sum(), x.permute(0, 2, 3, 1), cn.cat([x, x], 1)];
  });
  for (const o of outs) {
    assert.equal(o.requiresGrad, false);
    assert.equal(o.gradFn, null);
  }
  assert.equal(cn.isGradEnabled(), true);
  // and with grad enabled the same ops do record
  const r = cn.conv2d(x, w).relu().sum();
  assert.equal(r.requiresGrad, true);
  assert.notEqual(r.gradFn, null);
});

each('error messages name the op and the shapes', () => {
  const m23 = cn.zeros([2, 3]);
  assert.throws(() => cn.add(m23, cn.zeros([4])), /add: shapes \[2, 3\] and \[4\] cannot be broadcast/);
  assert.throws(() => m23.mul(cn.zeros([3, 2])), /mul: shapes \[2, 3\] and \[3, 2\]/);
  assert.throws(
    () => cn.conv2d(cn.zeros([2, 3, 5, 5]), cn.zeros([4, 1, 3, 3])),
    /conv2d: input has 3 channels but weight expects 1 \(input \[2, 3, 5, 5\], weight \[4, 1, 3, 3\]\)/,
  );
  assert.throws(() => cn.conv2d(cn.zeros([1, 1, 3, 3]), cn.zeros([1, 1, 5, 5])), /conv2d: kernel size 5x5 is larger than the padded input 3x3/);
  assert.throws(() => cn.conv2d(cn.zeros([1, 4, 5, 5]), cn.zeros([3, 2, 3, 3]), null, { groups: 2 }), /conv2d: 3 output channels are not divisible by groups 2/);
  assert.throws(() => cn.conv2d(cn.zeros([1, 5, 5]).reshape(5, 5), cn.zeros([1, 1, 3, 3])), /conv2d: expected a 4-D input .* got \[5, 5\]/);
  assert.throws(() => cn.conv2d(cn.zeros([1, 1, 5, 5]), cn.zeros([2, 1, 3, 3]), cn.zeros([3])), /conv2d: bias must have shape \[2\], got \[3\]/);
  assert.throws(() => cn.maxPool2d(cn.zeros([1, 1, 4, 4]), { kernelSize: 2, padding: 2 }), /maxPool2d: padding should be at most half of the kernel size/);
  assert.throws(() => cn.avgPool2d(cn.zeros([1, 1, 2, 2]), 3), /avgPool2d: output size 0x0 is too small for input \[1, 1, 2, 2\]/);
  assert.throws(() => cn.matmul(m23, m23), /matmul: shapes \[2, 3\] and \[2, 3\] cannot be multiplied \(3 != 2\)/);
  assert.throws(() => cn.matmul(cn.zeros([2, 2, 3]), cn.zeros([3, 3, 1])), /matmul: batch dims of \[2, 2, 3\] and \[3, 3, 1\] cannot be broadcast/);
  assert.throws(() => cn.linear(m23, cn.zeros([4, 2])), /linear: input \[2, 3\] has 3 features but weight \[4, 2\] expects 2/);
  assert.throws(() => m23.reshape(4, -1), /reshape: cannot reshape a tensor of shape \[2, 3\] \(6 elements\) into \[4, -1\]/);
  assert.throws(() => m23.reshape(-1, -1), /reshape: only one dimension can be -1/);
  assert.throws(() => cn.cat([m23, cn.zeros([2, 2])], 0), /cat: tensors must have the same shape except in dim 0, got \[2, 3\] \(entry 0\) and \[2, 2\] \(entry 1\)/);
  assert.throws(() => cn.stack([m23, cn.zeros([3, 2])]), /stack: expects tensors of equal shape/);
  assert.throws(() => m23.sum(2), /sum: dim 2 is out of range for a tensor of 2 dims/);
  assert.throws(() => m23.permute(0, 0), /permute: dims \[0, 0\] repeat a dim/);
  assert.throws(() => m23.expand(4, 3), /expand: the expanded size 4 must match the existing size 2 at non-singleton dim 0/);
  assert.throws(() => cn.sumTo(m23, [3, 1]), /sumTo: shape \[3, 1\] does not broadcast to \[2, 3\]/);
  assert.throws(() => cn.crossEntropy(m23, cn.tensor([0, 1])), /crossEntropy: target must be int32/);
  assert.throws(() => cn.crossEntropy(m23, cn.tensor([0], { dtype: 'int32' })), /crossEntropy: target must have shape \[2\] for logits \[2, 3\], got \[1\]/);
  assert.throws(() => cn.crossEntropy(m23, cn.tensor([0, 3], { dtype: 'int32' })), /crossEntropy: .*targets must lie in \[0, 3\)/);
  assert.throws(() => cn.mseLoss(m23, cn.zeros([3])), /mseLoss: input \[2, 3\] and target \[3\] must have the same shape/);
  assert.throws(
    () => cn.batchNorm(cn.zeros([4, 3]), null, null, cn.ones([2]), null, { training: true }),
    /batchNorm: weight must have shape \[3\] for input \[4, 3\], got \[2\]/,
  );
  assert.throws(() => cn.batchNorm(cn.zeros([1, 3]), null, null, null, null, { training: true }), /batchNorm: expected more than 1 value per channel when training, got input \[1, 3\]/);
  assert.throws(() => cn.batchNorm(cn.zeros([4, 3]), null, null), /batchNorm: runningMean and runningVar are required in eval mode/);
  assert.throws(() => cn.indexSelect(m23, 1, cn.tensor([0, 3], { dtype: 'int32' })), /indexSelect: .*\(input \[2, 3\], dim 1\)/);
  assert.throws(() => cn.indexSelect(m23, 1, cn.tensor([0])), /indexSelect: index must be int32/);
  assert.throws(() => cn.dropout(m23, { p: 1.5 }), /dropout: p must be in \[0, 1\], got 1.5/);
  assert.throws(() => cn.interpolate(cn.zeros([1, 1, 2, 2]), { size: [4, 4], alignCorners: true }), /interpolate: alignCorners: true is not supported/);
  assert.throws(() => cn.softmax(cn.zeros([2, 3]), 2), /softmax: dim 2 is out of range/);
});

each('ops do not leak backend memory (forward + backward inside tidy)', () => {
  const k = cn.getBackend();
  const x = cn.randn([2, 3, 8, 8], { requiresGrad: true });
  const w = cn.randn([4, 3, 3, 3], { requiresGrad: true });
  const rm = cn.zeros([4]);
  const rv = cn.ones([4]);
  const lw = cn.randn([5, 36], { requiresGrad: true });
  const y = cn.tensor([1, 4], { dtype: 'int32' });
  const step = (): void => {
    cn.tidy(() => {
      let h = cn.conv2d(x, w, null, { padding: 1, stride: 1 });
      h = cn.batchNorm(h, rm, rv, null, null, { training: true }).relu();
      h = cn.maxPool2d(h, { kernelSize: 3, stride: 2, padding: 1 });
      h = cn.avgPool2d(cn.interpolate(h, { size: [6, 6] }), 2);
      h = cn.cat([h, cn.dropout(h, { p: 0.3 })], 1).slice(1, 0, 4);
      const logits = cn.linear(h.flatten(1), lw);
      const loss = cn.crossEntropy(logits, y).add(logits.var().mul(0.01)).add(cn.matmul(logits, logits.transpose(0, 1)).max().mul(0.001));
      loss.backward();
      // a graph dropped without backward must also free what it saved (pool workspaces, BN stats)
      cn.maxPool2d(cn.batchNorm(x, null, null, null, null, { training: true }), 2).sum();
    });
    for (const t of [x, w, lw]) {
      t.grad?.dispose();
      t.grad = null;
    }
  };
  step();
  const before = k.memoryInUse();
  for (let i = 0; i < 3; i++) step();
  assert.equal(k.memoryInUse(), before, `${k.name}: memoryInUse grew from ${before} to ${k.memoryInUse()}`);
});

test('reference: conv2d skips backward-data when the input needs no gradient (first layer)', () => {
  const k = backendByName('reference') as { conv2dBackwardData: unknown };
  const orig = k.conv2dBackwardData;
  k.conv2dBackwardData = () => {
    throw new Error('conv2dBackwardData must not run');
  };
  try {
    cn.withBackend('reference', () =>
      cn.tidy(() => {
        const x = cn.randn([1, 1, 5, 5]);
        const w = cn.randn([2, 1, 3, 3], { requiresGrad: true });
        cn.conv2d(x, w).sum().backward();
        assert.deepEqual(w.grad!.shape, [2, 1, 3, 3]);
        w.grad!.dispose();
      }),
    );
  } finally {
    k.conv2dBackwardData = orig;
  }
});

test('Generator.fillUniform gives exactly the numbers of repeated random() calls, and the same next state', () => {
  // The bulk fill (used by rand, the uniform inits and dropout) inlines xoshiro128** on int32
  // locals; the scalar path is the reference. Scaled fills: a + (b - a) * u, rounded to float32.
  const a = new cn.Generator(1234);
  const b = new cn.Generator(1234);
  for (const [lo, hi, n] of [[0, 1, 1000], [-0.3, 0.7, 777], [2, 2, 5], [0, 1, 0]] as const) {
    const bulk = new Float32Array(n);
    a.fillUniform(bulk, lo, hi);
    const scalar = Float32Array.from({ length: n }, () => lo + (hi - lo) * b.random());
    assert.deepEqual(bulk, scalar);
    assert.deepEqual(a.getState(), b.getState());
  }
  // and the values are uniform: mean of 1000 draws of U(0, 1) within 4 sigma (sigma = 0.0091) of 0.5
  const u = new Float32Array(1000);
  new cn.Generator(7).fillUniform(u);
  const mean = u.reduce((s, v) => s + v, 0) / u.length;
  assert.ok(Math.abs(mean - 0.5) < 0.037, `mean ${mean}`);
});
