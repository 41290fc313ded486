/**
 * Finite-difference gradient checks (`assertGradcheck`) of every differentiable op, on tiny seeded
 * inputs kept away from kinks: on the reference backend in float64 with PyTorch's gradcheck
 * tolerances (eps 1e-6, atol 1e-5, rtol 1e-3), and on the native backend in float32 (it has no
 * float64; its gradients are also compared with the reference backend's in kernels.test). One test
 * per (backend, case).
 */
import { test } from 'node:test';
import * as cn from '../src/index.js';
import type { BackendName, DType, GradcheckOptions, Tensor } from '../src/index.js';

const backends: [BackendName, DType][] = [['reference', 'float64']];
if (cn.nativeAvailable()) backends.push(['native', 'float32']);

/** The dtype the current run builds its inputs in. */
let DT: DType = 'float64';

/** A tensor of `values` in the run's dtype. */
function vals(values: number[], requiresGrad = false): Tensor {
  return cn.tensor(values, { dtype: DT, requiresGrad });
}

interface Case {
  name: string;
  /** Builds the inputs (those to check have requiresGrad) from a seeded generator. */
  inputs: (g: cn.Generator) => Tensor[];
  fn: (...xs: Tensor[]) => Tensor;
  opts?: GradcheckOptions;
}

/** Standard normal values, requiring grad. */
function rn(shape: number[], g: cn.Generator, scale = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return cn.tensor(Float64Array.from({ length: n }, () => g.normal() * scale), { shape, dtype: DT, requiresGrad: true });
}

/** Values with |v| >= 0.3 (away from the kinks of relu/abs/sign at 0). */
function away(shape: number[], g: cn.Generator): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return cn.tensor(
    Float64Array.from({ length: n }, () => {
      const v = g.normal();
      return Math.sign(v || 1) * (0.3 + Math.abs(v));
    }),
    { shape, dtype: DT, requiresGrad: true },
  );
}

/** Positive values in [0.5, 2) (sqrt, log, division). */
function pos(shape: number[], g: cn.Generator): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return cn.tensor(Float64Array.from({ length: n }, () => 0.5 + 1.5 * g.random()), { shape, dtype: DT, requiresGrad: true });
}

/** Distinct values 0.1 apart in random order (max/min/max-pool: no ties within the FD step). */
function distinct(shape: number[], g: cn.Generator): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const p = g.permutation(n);
  return cn.tensor(Float64Array.from(p, (v) => (v - n / 2) * 0.1), { shape, dtype: DT, requiresGrad: true });
}

function int(values: number[]): Tensor {
  return cn.tensor(values, { dtype: 'int32' });
}

/** A tensor that is not checked (no requiresGrad). */
function fixed(shape: number[], g: cn.Generator): Tensor {
  const t = rn(shape, g);
  t.requiresGrad = false;
  return t;
}

const cases: Case[] = [
  // ---- elementwise (broadcasting both ways and scalar operands) ----
  { name: 'add broadcast [2,3] + [3]', inputs: (g) => [rn([2, 3], g), rn([3], g)], fn: (a, b) => cn.add(a!, b!) },
  { name: 'add broadcast [2,1] + [1,3]', inputs: (g) => [rn([2, 1], g), rn([1, 3], g)], fn: (a, b) => a!.add(b!) },
  { name: 'add scalar', inputs: (g) => [rn([3], g)], fn: (a) => a!.add(2) },
  { name: 'sub broadcast', inputs: (g) => [rn([3], g), rn([2, 3], g)], fn: (a, b) => cn.sub(a!, b!) },
  { name: 'sub reverse scalar', inputs: (g) => [rn([4], g)], fn: (a) => cn.sub(3, a!) },
  { name: 'mul broadcast', inputs: (g) => [rn([2, 3, 1], g), rn([4], g)], fn: (a, b) => a!.mul(b!) },
  { name: 'mul same tensor', inputs: (g) => [rn([3], g)], fn: (a) => a!.mul(a!) },
  { name: 'mul scalar', inputs: (g) => [rn([2, 2], g)], fn: (a) => a!.mul(-1.5) },
  { name: 'div broadcast', inputs: (g) => [rn([2, 3], g), pos([2, 1], g)], fn: (a, b) => cn.div(a!, b!) },
  { name: 'div reverse scalar', inputs: (g) => [pos([4], g)], fn: (a) => cn.div(2, a!) },
  { name: 'pow tensor exponent', inputs: (g) => [pos([2, 3], g), rn([3], g)], fn: (a, b) => cn.pow(a!, b!) },
  { name: 'pow scalar exponents 2, 3, 0.5', inputs: (g) => [pos([4], g)], fn: (a) => a!.pow(2).add(a!.pow(3)).add(a!.pow(0.5)) },
  { name: 'pow scalar base', inputs: (g) => [rn([4], g)], fn: (a) => cn.pow(2, a!) },
  {
    name: 'maximum/minimum broadcast',
    inputs: (g) => [distinct([2, 3], g), distinct([3], g).add(0.05).detach().requiresGrad_()],
    fn: (a, b) => cn.maximum(a!, b!).add(cn.minimum(a!, b!).mul(2)),
  },
  { name: 'maximum scalar', inputs: (g) => [away([5], g)], fn: (a) => cn.maximum(a!, 0.1) },
  { name: 'neg', inputs: (g) => [rn([3], g)], fn: (a) => a!.neg() },
  { name: 'sqrt', inputs: (g) => [pos([3], g)], fn: (a) => a!.sqrt() },
  { name: 'rsqrt', inputs: (g) => [pos([3], g)], fn: (a) => a!.rsqrt() },
  { name: 'exp', inputs: (g) => [rn([3], g)], fn: (a) => a!.exp() },
  { name: 'log', inputs: (g) => [pos([3], g)], fn: (a) => a!.log() },
  { name: 'abs', inputs: (g) => [away([4], g)], fn: (a) => a!.abs() },
  { name: 'sign (zero gradient)', inputs: (g) => [away([4], g)], fn: (a) => a!.sign().add(a!) },
  { name: 'square', inputs: (g) => [rn([3], g)], fn: (a) => a!.square() },
  { name: 'reciprocal', inputs: (g) => [away([3], g)], fn: (a) => a!.reciprocal() },
  {
    name: 'clamp',
    inputs: () => [vals([-2, -0.5, 0.3, 1.5, 3], true)],
    fn: (a) => a!.clamp({ min: -1, max: 2 }).add(a!.clamp({ min: 0 })),
  },
  { name: 'cast to its own dtype', inputs: (g) => [rn([3], g)], fn: (a) => a!.cast(a!.dtype) },
  // ---- activations ----
  { name: 'relu', inputs: (g) => [away([2, 5], g)], fn: (a) => a!.relu() },
  { name: 'sigmoid', inputs: (g) => [rn([2, 3], g)], fn: (a) => a!.sigmoid() },
  { name: 'tanh', inputs: (g) => [rn([2, 3], g)], fn: (a) => a!.tanh() },
  { name: 'silu', inputs: (g) => [rn([2, 3], g)], fn: (a) => cn.silu(a!) },
  // Away from the kinks at -3 and 3 (values spread over [-6, 6]).
  { name: 'hardswish', inputs: () => [vals([-5.5, -3.5, -2.25, -0.75, 0.5, 1.75, 2.9, 3.6, 5], true)], fn: (a) => a!.hardswish() },
  { name: 'softmax dim 1', inputs: (g) => [rn([2, 4], g)], fn: (a) => a!.softmax(1) },
  { name: 'softmax dim 0 (3-D)', inputs: (g) => [rn([3, 2, 2], g)], fn: (a) => cn.softmax(a!, 0) },
  { name: 'logSoftmax', inputs: (g) => [rn([2, 4], g)], fn: (a) => a!.logSoftmax(-1) },
  // ---- reductions ----
  { name: 'sum all', inputs: (g) => [rn([2, 3], g)], fn: (a) => a!.sum() },
  { name: 'sum dims keepdim', inputs: (g) => [rn([2, 3, 4], g)], fn: (a) => a!.sum([0, 2], { keepdim: true }) },
  { name: 'sum negative dim', inputs: (g) => [rn([2, 3], g)], fn: (a) => a!.sum(-1) },
  { name: 'mean all', inputs: (g) => [rn([2, 3], g)], fn: (a) => a!.mean() },
  { name: 'mean dims', inputs: (g) => [rn([2, 3, 2, 2], g)], fn: (a) => a!.mean([0, 2, 3], { keepdim: true }) },
  { name: 'max dim', inputs: (g) => [distinct([3, 4], g)], fn: (a) => a!.max(1) },
  { name: 'max all', inputs: (g) => [distinct([3, 4], g)], fn: (a) => a!.max() },
  { name: 'min dims keepdim', inputs: (g) => [distinct([2, 3, 2], g)], fn: (a) => a!.min([0, 2], { keepdim: true }) },
  { name: 'var unbiased all', inputs: (g) => [rn([2, 3], g)], fn: (a) => a!.var() },
  { name: 'var correction 0 dims keepdim', inputs: (g) => [rn([3, 2, 2], g)], fn: (a) => cn.var(a!, [0, 2], { correction: 0, keepdim: true }) },
  // ---- linear algebra ----
  { name: 'matmul 2-D', inputs: (g) => [rn([2, 3], g), rn([3, 4], g)], fn: (a, b) => a!.matmul(b!) },
  { name: 'matmul 1-D x 2-D', inputs: (g) => [rn([3], g), rn([3, 2], g)], fn: (a, b) => cn.matmul(a!, b!) },
  { name: 'matmul 2-D x 1-D', inputs: (g) => [rn([2, 3], g), rn([3], g)], fn: (a, b) => cn.matmul(a!, b!) },
  { name: 'matmul 1-D x 1-D', inputs: (g) => [rn([3], g), rn([3], g)], fn: (a, b) => cn.matmul(a!, b!) },
  { name: 'matmul batched x 2-D', inputs: (g) => [rn([2, 2, 3], g), rn([3, 2], g)], fn: (a, b) => cn.matmul(a!, b!) },
  {
    name: 'matmul batched broadcast [2,1,2,3] x [3,3,2]',
    inputs: (g) => [rn([2, 1, 2, 3], g), rn([3, 3, 2], g)],
    fn: (a, b) => cn.matmul(a!, b!),
  },
  { name: 'matmul 1-D x batched', inputs: (g) => [rn([3], g), rn([2, 3, 2], g)], fn: (a, b) => cn.matmul(a!, b!) },
  { name: 'linear with bias', inputs: (g) => [rn([3, 4], g), rn([2, 4], g), rn([2], g)], fn: (x, w, b) => cn.linear(x!, w!, b!) },
  { name: 'linear 3-D input, no bias', inputs: (g) => [rn([2, 2, 3], g), rn([4, 3], g)], fn: (x, w) => cn.linear(x!, w!) },
  { name: 'linear 1-D input', inputs: (g) => [rn([3], g), rn([2, 3], g), rn([2], g)], fn: (x, w, b) => cn.linear(x!, w!, b!) },
  { name: 'linear bias only', inputs: (g) => [fixed([3, 2], g), fixed([2, 2], g), rn([2], g)], fn: (x, w, b) => cn.linear(x!, w!, b!) },
  // ---- shape ----
  { name: 'reshape -1', inputs: (g) => [rn([2, 3], g)], fn: (a) => a!.reshape(3, -1).mul(cn.arange(6, undefined, 1, { dtype: DT }).reshape(3, 2)) },
  { name: 'view/flatten/squeeze/unsqueeze', inputs: (g) => [rn([2, 1, 3], g)], fn: (a) => a!.squeeze(1).unsqueeze(0).flatten().view(3, 2) },
  { name: 'permute', inputs: (g) => [rn([2, 3, 4], g)], fn: (a) => a!.permute(2, 0, 1) },
  { name: 'transpose', inputs: (g) => [rn([2, 3], g)], fn: (a) => a!.transpose(0, -1) },
  { name: 'cat dim 1 (three inputs)', inputs: (g) => [rn([2, 1, 2], g), rn([2, 3, 2], g), rn([2, 2, 2], g)], fn: (a, b, c) => cn.cat([a!, b!, c!], 1) },
  { name: 'cat same tensor twice', inputs: (g) => [rn([2, 2], g)], fn: (a) => cn.cat([a!, a!], 0) },
  { name: 'stack dim -1', inputs: (g) => [rn([2, 3], g), rn([2, 3], g)], fn: (a, b) => cn.stack([a!, b!], -1) },
  { name: 'slice negative', inputs: (g) => [rn([3, 5], g)], fn: (a) => a!.slice(1, -4, -1) },
  { name: 'narrow', inputs: (g) => [rn([4, 2], g)], fn: (a) => cn.narrow(a!, 0, 1, 2) },
  { name: 'indexSelect with repeats', inputs: (g) => [rn([3, 4], g)], fn: (a) => a!.indexSelect(1, int([3, 0, 3, 1])) },
  { name: 'expand', inputs: (g) => [rn([2, 1], g)], fn: (a) => a!.expand(3, 2, 4) },
  { name: 'broadcastTo', inputs: (g) => [rn([3], g)], fn: (a) => cn.broadcastTo(a!, [2, 3]) },
  { name: 'sumTo', inputs: (g) => [rn([2, 3, 4], g)], fn: (a) => cn.sumTo(a!, [3, 1]) },
  { name: 'clone', inputs: (g) => [rn([3], g)], fn: (a) => a!.clone() },
  // ---- convolution ----
  { name: 'conv2d with bias', inputs: (g) => [rn([2, 2, 5, 5], g), rn([3, 2, 3, 3], g), rn([3], g)], fn: (x, w, b) => cn.conv2d(x!, w!, b!) },
  {
    name: 'conv2d stride 2 padding 1, no bias',
    inputs: (g) => [rn([1, 2, 6, 5], g), rn([2, 2, 3, 3], g)],
    fn: (x, w) => cn.conv2d(x!, w!, null, { stride: 2, padding: 1 }),
  },
  {
    name: 'conv2d non-square stride/padding/kernel',
    inputs: (g) => [rn([1, 1, 5, 6], g), rn([2, 1, 2, 3], g), rn([2], g)],
    fn: (x, w, b) => cn.conv2d(x!, w!, b!, { stride: [1, 2], padding: [1, 0] }),
  },
  {
    name: 'conv2d dilation 2',
    inputs: (g) => [rn([1, 2, 6, 6], g), rn([2, 2, 2, 2], g), rn([2], g)],
    fn: (x, w, b) => cn.conv2d(x!, w!, b!, { dilation: 2, padding: 1 }),
  },
  {
    name: 'conv2d groups 2',
    inputs: (g) => [rn([1, 4, 4, 4], g), rn([4, 2, 3, 3], g), rn([4], g)],
    fn: (x, w, b) => cn.conv2d(x!, w!, b!, { groups: 2, padding: 1 }),
  },
  {
    name: 'conv2d depthwise (groups = channels), stride 2',
    inputs: (g) => [rn([1, 3, 5, 5], g), rn([3, 1, 3, 3], g)],
    fn: (x, w) => cn.conv2d(x!, w!, null, { groups: 3, stride: 2, padding: 1 }),
  },
  {
    name: 'conv2d weight only (first layer) and bias',
    inputs: (g) => [fixed([2, 1, 5, 5], g), rn([2, 1, 3, 3], g), rn([2], g)],
    fn: (x, w, b) => cn.conv2d(x!, w!, b!),
  },
  { name: 'conv2d bias only', inputs: (g) => [fixed([1, 1, 4, 4], g), fixed([2, 1, 3, 3], g), rn([2], g)], fn: (x, w, b) => cn.conv2d(x!, w!, b!) },
  { name: 'conv2d unbatched', inputs: (g) => [rn([2, 4, 4], g), rn([2, 2, 3, 3], g)], fn: (x, w) => cn.conv2d(x!, w!, null, { padding: 1 }) },
  // ---- pooling ----
  { name: 'maxPool2d 2x2', inputs: (g) => [distinct([1, 2, 4, 4], g)], fn: (x) => cn.maxPool2d(x!, 2) },
  {
    name: 'maxPool2d kernel 3 stride 2 padding 1',
    inputs: (g) => [distinct([2, 1, 5, 5], g)],
    fn: (x) => cn.maxPool2d(x!, { kernelSize: 3, stride: 2, padding: 1 }),
  },
  { name: 'maxPool2d overlapping stride 1', inputs: (g) => [distinct([1, 1, 4, 5], g)], fn: (x) => cn.maxPool2d(x!, { kernelSize: [2, 3], stride: 1 }) },
  { name: 'avgPool2d padding, countIncludePad', inputs: (g) => [rn([1, 2, 5, 5], g)], fn: (x) => cn.avgPool2d(x!, { kernelSize: 3, stride: 2, padding: 1 }) },
  {
    name: 'avgPool2d padding, countIncludePad false',
    inputs: (g) => [rn([1, 2, 5, 4], g)],
    fn: (x) => cn.avgPool2d(x!, { kernelSize: 2, stride: 2, padding: 1, countIncludePad: false }),
  },
  { name: 'adaptiveAvgPool2d overlapping bins', inputs: (g) => [rn([1, 2, 5, 5], g)], fn: (x) => cn.adaptiveAvgPool2d(x!, [2, 3]) },
  { name: 'adaptiveAvgPool2d global', inputs: (g) => [rn([2, 2, 3, 3], g)], fn: (x) => cn.adaptiveAvgPool2d(x!, 1) },
  // ---- batch norm ----
  {
    name: 'batchNorm train 2-D',
    inputs: (g) => [rn([4, 3], g), pos([3], g), rn([3], g)],
    fn: (x, w, b) => cn.batchNorm(x!, cn.zeros([3], { dtype: DT }), cn.ones([3], { dtype: DT }), w!, b!, { training: true }),
  },
  {
    name: 'batchNorm train 4-D',
    inputs: (g) => [rn([2, 2, 3, 3], g), pos([2], g), rn([2], g)],
    fn: (x, w, b) => cn.batchNorm(x!, null, null, w!, b!, { training: true }),
  },
  {
    name: 'batchNorm train 3-D, no weight/bias',
    inputs: (g) => [rn([2, 2, 3], g)],
    fn: (x) => cn.batchNorm(x!, null, null, null, null, { training: true }),
  },
  {
    name: 'batchNorm eval 4-D',
    inputs: (g) => [rn([2, 2, 2, 2], g), pos([2], g), rn([2], g)],
    fn: (x, w, b) => cn.batchNorm(x!, vals([0.3, -0.2]), vals([0.5, 2]), w!, b!, { training: false }),
  },
  // ---- losses ----
  { name: 'crossEntropy mean', inputs: (g) => [rn([3, 4], g)], fn: (x) => cn.crossEntropy(x!, int([2, 0, 3])) },
  { name: 'crossEntropy sum', inputs: (g) => [rn([3, 4], g)], fn: (x) => cn.crossEntropy(x!, int([1, 1, 0]), { reduction: 'sum' }) },
  { name: 'crossEntropy none', inputs: (g) => [rn([3, 4], g)], fn: (x) => cn.crossEntropy(x!, int([3, 2, 1]), { reduction: 'none' }) },
  {
    name: 'crossEntropy label smoothing 0.2 (mean, none)',
    inputs: (g) => [rn([3, 4], g)],
    fn: (x) => cn.crossEntropy(x!, int([2, 0, 3]), { labelSmoothing: 0.2 }).add(cn.crossEntropy(x!, int([1, 1, 0]), { labelSmoothing: 0.2, reduction: 'none' }).sum()),
  },
  { name: 'mseLoss mean', inputs: (g) => [rn([2, 3], g), rn([2, 3], g)], fn: (a, b) => cn.mseLoss(a!, b!) },
  { name: 'mseLoss none', inputs: (g) => [rn([4], g), rn([4], g)], fn: (a, b) => cn.mseLoss(a!, b!, { reduction: 'none' }) },
  // ---- dropout / resize ----
  {
    name: 'dropout (fixed generator)',
    inputs: (g) => [rn([3, 4], g)],
    fn: (x) => cn.dropout(x!, { p: 0.4, generator: new cn.Generator(11) }),
  },
  { name: 'interpolate up 2x3 -> 4x5', inputs: (g) => [rn([1, 2, 2, 3], g)], fn: (x) => cn.interpolate(x!, { size: [4, 5] }) },
  { name: 'interpolate down 5x5 -> 3x2', inputs: (g) => [rn([1, 1, 5, 5], g)], fn: (x) => cn.interpolate(x!, { size: [3, 2] }) },
  // ---- a small composite net (chain rule through several ops) ----
  {
    name: 'conv -> BN -> tanh -> avgPool -> linear -> crossEntropy',
    inputs: (g) => [rn([2, 1, 6, 6], g), rn([2, 1, 3, 3], g, 0.5), rn([3, 8], g, 0.5)],
    fn: (x, w, lw) => {
      let h = cn.conv2d(x!, w!, null, { padding: 1 });
      h = cn.batchNorm(h, null, null, null, null, { training: true }).tanh();
      h = cn.avgPool2d(h, 3);
      return cn.crossEntropy(cn.linear(h.flatten(1), lw!), int([0, 2]));
    },
  },
];

for (const [backend, dtype] of backends) {
  for (const c of cases) {
    test(`${backend}: gradcheck (${dtype}) ${c.name}`, () => {
      DT = dtype;
      cn.withBackend(backend, () =>
        cn.tidy(() => {
          const xs = c.inputs(new cn.Generator(7));
          try {
            cn.assertGradcheck(c.fn, xs, c.opts);
          } finally {
            for (const x of xs) x.dispose();
          }
        }),
      );
    });
  }
}

// The checker itself: in float64 with PyTorch's tolerances, a gradient 1% off must fail (the old
// float32 check with atol 5e-3 let such an error pass).
const offByOnePercent = cn.defineOp({
  name: 'testOffByOnePercent',
  kernel: 'scalar',
  setup: (x: Tensor) => ({ inputs: [x], params: { shape: x.shape }, shape: x.shape }),
  forward: (k, [x], p) => k.scalar('mul', x as cn.Storage, p.shape, 3, false),
  backward: (gy) => [gy.mul(3 * 1.01)],
});

test('reference: gradcheck (float64) rejects a gradient 1% off and accepts the exact one', () => {
  cn.withBackend('reference', () =>
    cn.tidy(() => {
      const x = cn.tensor([0.5, -1.25, 2], { dtype: 'float64', requiresGrad: true });
      const bad = cn.gradcheck((a) => offByOnePercent(a!), [x]);
      if (bad.ok) throw new Error(`a 1% gradient error passed: ${bad.worst}`);
      const good = cn.gradcheck((a) => a!.mul(3), [x]);
      if (!good.ok) throw new Error(`the exact gradient failed: ${good.worst}`);
    }),
  );
});
