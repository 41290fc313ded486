/**
 * Saved tensors and their lifetime, as PyTorch: a tensor a scope releases is freed at once unless a
 * recorded backward reads it (an op's `saves`), and then as soon as that backward has run; the
 * graph node that made it stays while later nodes can backpropagate into it. Checked on the
 * reference backend (exact float64 gradients) and, for the memory counts, on both backends.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as cn from '../src/index.js';
import type { Tensor } from '../src/index.js';

const DT = 'float64';

function rn(shape: number[], g: cn.Generator, requiresGrad = true): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return cn.tensor(Float64Array.from({ length: n }, () => g.normal()), { shape, dtype: DT, requiresGrad });
}

/** Distinct values (no ties for max pooling). */
function distinct(shape: number[], g: cn.Generator): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const p = g.permutation(n);
  return cn.tensor(Float64Array.from(p, (v) => (v - n / 2) * 0.1), { shape, dtype: DT, requiresGrad: true });
}

interface Case {
  name: string;
  inputs: (g: cn.Generator) => Tensor[];
  fn: (...xs: Tensor[]) => Tensor;
}

// Every op that declares what its backward reads (`saves`), alone and in chains where its input or
// output is an intermediate that the scope releases.
const cases: Case[] = [
  { name: 'relu of a product', inputs: (g) => [rn([2, 5], g), rn([2, 5], g)], fn: (a, b) => a!.mul(b!).relu() },
  { name: 'sigmoid, tanh', inputs: (g) => [rn([2, 3], g)], fn: (a) => a!.mul(2).sigmoid().add(a!.mul(3).tanh()) },
  { name: 'softmax, logSoftmax', inputs: (g) => [rn([2, 4], g)], fn: (a) => a!.mul(2).softmax(1).add(a!.add(1).logSoftmax(-1)) },
  { name: 'hardswish', inputs: (g) => [rn([6], g)], fn: (a) => a!.mul(2).hardswish() },
  { name: 'add, sub, mul (both operands intermediate)', inputs: (g) => [rn([2, 3], g), rn([3], g)], fn: (a, b) => a!.exp().mul(b!.tanh()).sub(a!.add(b!).square()) },
  { name: 'mul by a constant tensor', inputs: (g) => [rn([2, 3], g), rn([2, 3], g, false)], fn: (a, c) => a!.exp().mul(c!) },
  { name: 'reshape, permute, slice, cat, expand, sumTo, clone', inputs: (g) => [rn([2, 3, 4], g)], fn: (a) => {
    const h = a!.exp().reshape(6, 4).permute(1, 0).slice(0, 1, 3);
    return cn.cat([h, h.clone().mul(2)], 0).sum(0).expand(2, 6).add(cn.sumTo(a!.exp(), [3, 1]).reshape(1, 3).expand(2, 3).sum(1, { keepdim: true }));
  } },
  { name: 'cast', inputs: (g) => [rn([3], g)], fn: (a) => a!.exp().cast('float64').square() },
  { name: 'conv2d on an intermediate, then relu', inputs: (g) => [rn([2, 2, 5, 5], g), rn([3, 2, 3, 3], g), rn([3], g)], fn: (x, w, b) => cn.conv2d(x!.tanh(), w!.mul(0.5), b!, { padding: 1 }).relu() },
  { name: 'conv2d bias only', inputs: (g) => [rn([1, 1, 4, 4], g, false), rn([2, 1, 3, 3], g, false), rn([2], g)], fn: (x, w, b) => cn.conv2d(x!, w!, b!).square() },
  { name: 'maxPool2d of an intermediate', inputs: (g) => [distinct([1, 2, 4, 4], g)], fn: (x) => cn.maxPool2d(x!.mul(1.5), 2).mul(2) },
  { name: 'avgPool2d, adaptiveAvgPool2d', inputs: (g) => [rn([1, 2, 5, 5], g)], fn: (x) => cn.avgPool2d(x!.exp(), { kernelSize: 2 }).add(cn.adaptiveAvgPool2d(x!.square(), 2)) },
  {
    name: 'batchNorm train and eval on intermediates',
    inputs: (g) => [rn([2, 2, 3, 3], g), rn([2], g), rn([2], g)],
    fn: (x, w, b) =>
      cn.batchNorm(x!.tanh(), null, null, w!.exp(), b!, { training: true }).add(cn.batchNorm(x!.mul(2), cn.zeros([2], { dtype: DT }), cn.ones([2], { dtype: DT }), w!, b!.mul(3), { training: false })),
  },
  { name: 'dropout', inputs: (g) => [rn([3, 4], g)], fn: (x) => cn.dropout(x!.exp(), { p: 0.4, generator: new cn.Generator(3) }).square() },
  { name: 'linear, matmul on intermediates', inputs: (g) => [rn([3, 4], g), rn([2, 4], g), rn([4, 2], g)], fn: (x, w, m) => cn.linear(x!.tanh(), w!.mul(2)).add(x!.exp().matmul(m!.square())) },
  { name: 'crossEntropy of intermediate logits', inputs: (g) => [rn([3, 4], g)], fn: (x) => cn.crossEntropy(x!.mul(2).relu(), cn.tensor([2, 0, 3], { dtype: 'int32' })) },
];

/** Gradients of sum(fn(xs) * r), with fn's intermediates kept (plain) or released by a scope. */
function grads(c: Case, released: boolean): number[][] {
  const xs = c.inputs(new cn.Generator(5));
  try {
    const loss = released ? cn.tidy(() => weighted(c.fn(...xs))) : weighted(c.fn(...xs));
    loss.backward();
    return xs.filter((x) => x.requiresGrad).map((x) => [...x.grad!.toArray()]);
  } finally {
    for (const x of xs) x.dispose();
  }
}

function weighted(y: Tensor): Tensor {
  const r = cn.tensor(Float64Array.from({ length: y.size }, (_, i) => 0.3 + ((i * 7) % 5) / 5), { shape: y.shape, dtype: DT });
  return y.mul(r).sum();
}

for (const c of cases) {
  test(`released intermediates: backward of '${c.name}' reads only what its ops save`, () => {
    cn.withBackend('reference', () =>
      cn.tidy(() => {
        assert.deepEqual(grads(c, true), grads(c, false));
      }),
    );
  });
}

for (const backend of ['reference', 'native'] as const) {
  test(`${backend}: a scope frees unsaved intermediates at once and saved ones as backward passes them`, (t) => {
    if (backend === 'native' && !cn.nativeAvailable()) return t.skip('native addon not built');
    cn.withBackend(backend, () => {
      const k = cn.getBackend();
      const x = cn.randn([64, 256]).keep();
      const w = cn.randn([256, 256], { requiresGrad: true }).keep();
      const start = k.memoryInUse();
      cn.tidy(() => {
        // y = relu(x w): the product p is read by no backward (relu saves its output), so the scope
        // releasing it frees it now; the relu output r is saved and outlives the scope.
        const loss = cn.tidy(() => {
          const p = x.matmul(w);
          const r = p.relu();
          return r.sum();
        });
        const afterForward = k.memoryInUse() - start;
        const rowBytes = 64 * 256 * 4;
        assert.ok(afterForward < 2 * rowBytes, `after the forward scope ${afterForward} bytes are live: only relu's output (${rowBytes}) and scalars should be`);
        assert.ok(afterForward >= rowBytes, 'relu saved its output for backward');
        loss.backward();
        // Backward freed the saved output; what is left is w's gradient and the loss.
        const afterBackward = k.memoryInUse() - start;
        assert.ok(afterBackward < 256 * 256 * 4 + rowBytes / 4, `after backward ${afterBackward} bytes are live`);
        assert.ok(w.grad !== null);
      });
      w.grad?.dispose();
      w.grad = null;
      assert.equal(k.memoryInUse(), start, 'everything is freed');
      x.dispose();
      w.dispose();
    });
  });
}

test('a graph dropped without backward frees what it saved; backward after release fails clearly', () => {
  cn.withBackend('reference', () => {
    const k = cn.getBackend();
    const start = k.memoryInUse();
    const w = cn.randn([8, 8], { requiresGrad: true });
    const loss = cn.tidy(() => w.exp().relu().tanh().sum());
    assert.ok(k.memoryInUse() > start, 'the saved activations outlive the scope');
    loss.dispose();
    w.dispose();
    assert.equal(k.memoryInUse(), start, 'disposing the root released the whole graph');
    // An op whose backward reads a tensor it does not declare fails by name, not silently.
    const bad = cn.defineOp({
      name: 'testUndeclaredRead',
      kernel: 'scalar',
      setup: (x: Tensor) => ({ inputs: [x], params: null, shape: x.shape }),
      forward: (kk, [x]) => kk.scalar('mul', x as cn.Storage, [2], 2, false),
      backward: (gy, c) => [gy.mul(c.inputs[0] as Tensor)],
      saves: () => ({ inputs: [] }),
    });
    const v = cn.tensor([1, 2], { requiresGrad: true });
    // v * 2 is saved by no backward (mul by a number needs nothing): the scope frees it.
    const l = cn.tidy(() => bad(v.mul(2)).sum());
    assert.throws(() => l.backward(), /was released by its scope/);
    l.dispose();
    v.dispose();
  });
});

test('Sequential frees each output once the next layer used it, but not outputs a hook has seen', () => {
  cn.withBackend('reference', () => {
    const k = cn.getBackend();
    const net = new cn.nn.Sequential(new cn.nn.Linear(64, 64), new cn.nn.Tanh(), new cn.nn.Linear(64, 64), new cn.nn.Tanh());
    const x = cn.randn([32, 64]).keep();
    const peak = (): number => {
      let max = 0;
      cn.tidy(() => {
        const y = net.call(x);
        max = k.memoryInUse();
        y.sum().backward();
      });
      net.zeroGrad();
      return max;
    };
    const withRelease = peak();
    const seen: Tensor[] = [];
    const remove = net.at(0).registerForwardHook((_m, _i, y) => void seen.push(y));
    const withHook = peak();
    remove();
    // The first Linear's output is needed by no backward (Tanh saves its own output): released,
    // unless the hook saw it.
    assert.ok(withHook - withRelease >= 32 * 64 * 4, `peak ${withRelease} without the hook, ${withHook} with it`);
    assert.ok(seen[0]!.isDisposed, 'the hooked output is freed at the end of its scope');
    x.dispose();
    net.dispose();
  });
});

for (const backend of ['reference', 'native'] as const) {
  test(`${backend}: training steps of a zoo model keep live and reserved bytes flat`, (t) => {
    if (backend === 'native' && !cn.nativeAvailable()) return t.skip('native addon not built');
    cn.withBackend(backend, () => {
      cn.manualSeed(1);
      const model = cn.models.createModel('bnlenet');
      const batch = { x: cn.randn([32, 1, 28, 28]).keep(), y: cn.randint(0, 10, [32]).keep() };
      model.applyInit([batch.x]);
      const opt = model.configureOptimizers();
      const after: { live: number; reserved: number }[] = [];
      for (let i = 0; i < 60; i++) {
        cn.train.trainStep(model, opt, batch);
        const s = cn.memoryStats();
        after.push({ live: s.live, reserved: s.reserved });
      }
      // From the third step on (the first ones create the gradients and fill the cache) nothing grows.
      for (let i = 3; i < after.length; i++) {
        assert.equal(after[i]!.live, after[2]!.live, `live bytes changed at step ${i + 1}`);
        assert.equal(after[i]!.reserved, after[2]!.reserved, `reserved bytes changed at step ${i + 1}`);
      }
      cn.dispose(batch);
      model.zeroGrad();
      cn.dispose(Object.values(model.stateDict()));
    });
  });
}
