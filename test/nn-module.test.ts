/**
 * nn.Module and the layers: PyTorch's dotted names, state dicts, train/eval, apply order, lazy
 * layers and deferred init, AlexNet's parameter count, default init statistics. Reference numbers
 * come from PyTorch 1.13 (scripts in the comments). Every test runs on the reference backend and,
 * when the addon is built, on the native one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as cn from '../src/index.js';
import type { BackendName, Tensor } from '../src/index.js';
import * as nn from '../src/nn/index.js';
import { assertClose } from './helpers/assert-close.js';

const BACKENDS: BackendName[] = ['reference', 'native'];

/** Runs `fn` on each backend (native skipped when the addon is not built). */
function eachBackend(name: string, fn: (backend: BackendName) => void): void {
  for (const b of BACKENDS) {
    test(`${b}: ${name}`, (t) => {
      if (b === 'native' && !cn.nativeAvailable()) {
        t.skip('native addon not built');
        return;
      }
      cn.withBackend(b, () => fn(b));
    });
  }
}

// ---- a DenseNet-like nested model -------------------------------------------------------------

function convBlock(c: number): nn.Sequential {
  return new nn.Sequential(new nn.LazyBatchNorm2d(), new nn.ReLU(), new nn.LazyConv2d(c, { kernelSize: 3, padding: 1 }));
}

class DenseBlock extends nn.Module {
  net: nn.Sequential;
  constructor(numConvs: number, numChannels: number) {
    super();
    const layers: nn.Module[] = [];
    for (let i = 0; i < numConvs; i++) layers.push(convBlock(numChannels));
    this.net = new nn.Sequential(...layers);
  }
  override forward(x: Tensor): Tensor {
    let X = x;
    for (const blk of this.net) {
      const Y = blk.call(X);
      X = cn.cat([X, Y], 1);
    }
    return X;
  }
}

class Model extends nn.Module {
  net: nn.Sequential;
  constructor() {
    super();
    this.net = new nn.Sequential(
      new nn.Sequential(new nn.LazyConv2d(4, { kernelSize: 3, padding: 1 }), new nn.LazyBatchNorm2d(), new nn.ReLU()),
      new DenseBlock(2, 3),
    );
    this.net.addModule('last', new nn.Sequential(new nn.AdaptiveAvgPool2d([1, 1]), new nn.Flatten(), new nn.LazyLinear(5)));
  }
  override forward(x: Tensor): Tensor {
    return this.net.call(x);
  }
}

/*
 * PyTorch 1.13 (same classes in Python, m(torch.randn(2, 1, 6, 6))):
 *   [(n, tuple(p.shape)) for n, p in m.state_dict().items()]
 */
const TORCH_STATE: [string, number[]][] = [
  ['net.0.0.weight', [4, 1, 3, 3]], ['net.0.0.bias', [4]],
  ['net.0.1.weight', [4]], ['net.0.1.bias', [4]], ['net.0.1.running_mean', [4]], ['net.0.1.running_var', [4]], ['net.0.1.num_batches_tracked', []],
  ['net.1.net.0.0.weight', [4]], ['net.1.net.0.0.bias', [4]], ['net.1.net.0.0.running_mean', [4]], ['net.1.net.0.0.running_var', [4]],
  ['net.1.net.0.0.num_batches_tracked', []],
  ['net.1.net.0.2.weight', [3, 4, 3, 3]], ['net.1.net.0.2.bias', [3]],
  ['net.1.net.1.0.weight', [7]], ['net.1.net.1.0.bias', [7]], ['net.1.net.1.0.running_mean', [7]], ['net.1.net.1.0.running_var', [7]],
  ['net.1.net.1.0.num_batches_tracked', []],
  ['net.1.net.1.2.weight', [3, 7, 3, 3]], ['net.1.net.1.2.bias', [3]],
  ['net.last.2.weight', [5, 10]], ['net.last.2.bias', [5]],
];

function input(seed: number, shape: number[]): Tensor {
  return cn.randn(shape, { generator: new cn.Generator(seed) });
}

eachBackend("nested model: PyTorch's dotted names, shapes and parameter count", () => {
  cn.tidy(() => {
    const m = new Model();
    const y = m.call(input(1, [2, 1, 6, 6]));
    assert.deepEqual(y.shape, [2, 5]);
    const sd = m.stateDict();
    assert.deepEqual(
      Object.entries(sd).map(([k, t]) => [k, [...t.shape]]),
      TORCH_STATE,
    );
    assert.deepEqual(
      m.namedParameters().map(([k, p]) => [k, [...p.shape]]),
      TORCH_STATE.filter(([k]) => !/running|num_batches/.test(k)),
    );
    assert.deepEqual(
      m.namedBuffers().map(([k]) => k),
      TORCH_STATE.map(([k]) => k).filter((k) => /running|num_batches/.test(k)),
    );
    assert.equal(m.numParameters(), 428); // sum(p.numel() for p in m.parameters())
    assert.equal(sd['net.0.1.num_batches_tracked']!.dtype, 'int32');
    assert.equal(sd['net.0.1.num_batches_tracked']!.item(), 1);
    // Containers: at / length / iteration / names of children.
    assert.equal(m.net.length, 3);
    assert.ok(m.net.at(-1) instanceof nn.Sequential);
    assert.deepEqual(m.net.namedChildren().map(([n]) => n), ['0', '1', 'last']);
    assert.deepEqual([...m.net].length, 3);
    assert.throws(() => m.net.at(3), /Sequential\.at\(3\): index out of range for a Sequential of length 3/);
    assert.deepEqual(
      m.namedModules().map(([n]) => n).slice(0, 6),
      ['', 'net', 'net.0', 'net.0.0', 'net.0.1', 'net.0.2'],
    );
  });
});

eachBackend('state dict round trip (into a called and into a still-lazy model)', () => {
  cn.tidy(() => {
    const x = input(2, [3, 1, 6, 6]);
    const a = new Model();
    a.call(x); // materialize + one training step of the BN statistics
    a.call(x.mul(2));
    a.eval();
    const ya = a.call(x).toArray();
    const sd = a.stateDict();

    const b = new Model();
    b.call(input(3, [3, 1, 6, 6]));
    b.loadStateDict(sd);
    b.eval();
    assertClose(b.call(x).toArray(), ya, { atol: 0, rtol: 0 }, 'loaded model output');

    // A fresh lazy model materializes its parameters from the checkpoint's shapes.
    const c = new Model();
    assert.equal(c.hasUninitializedParameters(), true);
    c.loadStateDict(sd);
    assert.equal(c.hasUninitializedParameters(), false);
    c.eval();
    assertClose(c.call(x).toArray(), ya, { atol: 0, rtol: 0 }, 'lazy model loaded before its first call');
    const bn = c.net.at(0) as nn.Sequential;
    assert.equal((bn.at(1) as nn.BatchNorm2d).numBatchesTracked, 2);
    // The copies are independent of the source.
    const w = sd['net.0.0.weight']!;
    const before = c.stateDict()['net.0.0.weight']!.toArray();
    w.assign(cn.zeros(w.shape));
    assert.deepEqual(c.stateDict()['net.0.0.weight']!.toArray(), before);
  });
});

eachBackend('loadStateDict: strict and non-strict errors name the keys and shapes', () => {
  cn.tidy(() => {
    const x = input(4, [2, 1, 6, 6]);
    const a = new Model();
    a.call(x);
    const full = a.stateDict();
    const b = new Model();
    b.call(x);

    const missing = { ...full };
    delete missing['net.last.2.bias'];
    delete missing['net.0.1.running_var'];
    assert.throws(
      () => b.loadStateDict(missing),
      (e: Error) =>
        /Error\(s\) in loading state_dict for Model/.test(e.message) &&
        /Missing key\(s\) in state_dict: "net\.0\.1\.running_var", "net\.last\.2\.bias"\./.test(e.message),
    );
    const extra = { ...full, 'net.9.weight': cn.zeros([2]) };
    assert.throws(() => b.loadStateDict(extra), /Unexpected key\(s\) in state_dict: "net\.9\.weight"\./);
    const wrong = { ...full, 'net.0.0.weight': cn.zeros([4, 2, 3, 3]) };
    assert.throws(
      () => b.loadStateDict(wrong),
      /size mismatch for net\.0\.0\.weight: copying a param with shape \[4, 2, 3, 3\] from checkpoint, the shape in current model is \[4, 1, 3, 3\]/,
    );
    // Shape mismatches are errors even when not strict; nothing was written.
    const keep = b.stateDict()['net.last.2.weight']!.toArray();
    assert.throws(() => b.loadStateDict(wrong, { strict: false }), /size mismatch for net\.0\.0\.weight/);
    assert.deepEqual(b.stateDict()['net.last.2.weight']!.toArray(), keep);

    const r = b.loadStateDict({ ...missing, 'extra.key': cn.zeros([1]) }, { strict: false });
    assert.deepEqual(r.missingKeys, ['net.0.1.running_var', 'net.last.2.bias']);
    assert.deepEqual(r.unexpectedKeys, ['extra.key']);
    assertClose(b.stateDict()['net.last.2.weight']!.toArray(), full['net.last.2.weight']!.toArray(), { atol: 0, rtol: 0 }, 'partial load');
  });
});

test('train/eval propagate to every descendant; apply visits children before parents', () => {
  const m = new Model();
  assert.ok(m.modules().every((x) => x.training));
  m.eval();
  assert.equal(m.modules().length, 20);
  assert.ok(m.modules().every((x) => !x.training));
  m.net.train();
  assert.equal(m.training, false);
  assert.ok(m.net.modules().every((x) => x.training));
  m.train();
  assert.ok(m.modules().every((x) => x.training));

  // torch: seq = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1)))
  // seq.apply(lambda m: order.append(type(m).__name__)) -> Linear, ReLU, Linear, Sequential, Sequential
  const seq = new nn.Sequential(new nn.Linear(2, 3), new nn.Sequential(new nn.ReLU(), new nn.Linear(3, 1)));
  const order: string[] = [];
  const ret = seq.apply((x) => order.push(x.constructor.name));
  assert.equal(ret, seq);
  assert.deepEqual(order, ['Linear', 'ReLU', 'Linear', 'Sequential', 'Sequential']);
});

test('registration: properties in definition order, explicit registration, buffers, null entries', () => {
  class Net extends nn.Module {
    a = new nn.Linear(2, 2);
    scale = new nn.Parameter(cn.ones([2]));
    skipped: nn.Linear | null = null;
    plain = cn.zeros([2]); // a plain tensor is neither a parameter nor a buffer
    constructor() {
      super();
      this.registerModule('b', new nn.Linear(2, 1));
      this.registerBuffer('steps', cn.zeros([1]));
      this.registerBuffer('scratch', cn.zeros([1]), { persistent: false });
    }
  }
  const n = new Net();
  assert.deepEqual(Object.keys(n.stateDict()), ['scale', 'steps', 'a.weight', 'a.bias', 'b.weight', 'b.bias']);
  assert.deepEqual(n.namedBuffers().map(([k]) => k), ['steps', 'scratch']);
  assert.deepEqual(n.namedChildren().map(([k]) => k), ['a', 'b']);
  // As PyTorch: a module assigned later is registered after the existing ones.
  n.skipped = new nn.Linear(1, 1);
  assert.deepEqual(n.namedChildren().map(([k]) => k), ['a', 'b', 'skipped']);
  n.skipped = null;
  assert.deepEqual(n.namedChildren().map(([k]) => k), ['a', 'b']);
  // Shared parameters are listed once.
  const shared = new nn.Sequential(n.a, n.a);
  assert.equal(shared.parameters().length, 2);
  assert.throws(() => n.registerModule('training', new nn.ReLU()), /attribute 'training' already exists/);
  assert.throws(() => n.registerModule('x.y', new nn.ReLU()), /invalid name 'x\.y'/);
  assert.match(new nn.Sequential(new nn.Conv2d(1, 2, 3), new nn.ReLU()).toString(), /Sequential\(\n {2}\(0\): Conv2d\(1, 2, kernelSize=3\)\n {2}\(1\): ReLU\(\)\n\)/);
});

eachBackend('lazy layers materialize on the first call with the right shapes', () => {
  cn.tidy(() => {
    const conv = new nn.LazyConv2d(6, { kernelSize: 5, padding: 2 });
    const lin = new nn.LazyLinear(10);
    const bn1 = new nn.LazyBatchNorm1d();
    const bn2 = new nn.LazyBatchNorm2d();
    assert.ok(conv instanceof nn.Conv2d && lin instanceof nn.Linear && bn2 instanceof nn.BatchNorm2d && bn1 instanceof nn.BatchNorm1d);
    assert.equal(conv.weight.isMaterialized, false);
    assert.throws(() => conv.weight.shape, /LazyConv2d\(out=6\)\.weight is an uninitialized parameter of a lazy layer/);
    assert.throws(() => lin.numParameters(), /numParameters: LazyLinear\(out=10\)\.weight is uninitialized/);
    assert.throws(() => bn2.weight!.assign(cn.ones([3])), /LazyBatchNorm2d\(\)\.weight: cannot assign to an uninitialized parameter/);

    const y = conv.call(input(5, [2, 3, 8, 8]));
    assert.deepEqual(y.shape, [2, 6, 8, 8]);
    assert.deepEqual(conv.weight.shape, [6, 3, 5, 5]);
    assert.deepEqual(conv.bias!.shape, [6]);
    assert.equal(conv.inChannels, 3);
    assert.equal(conv.weight.kernels, y.kernels);

    const z = lin.call(input(6, [4, 20]));
    assert.deepEqual(z.shape, [4, 10]);
    assert.deepEqual(lin.weight.shape, [10, 20]);
    assert.deepEqual(lin.bias!.shape, [10]);
    assert.equal(lin.numParameters(), 210);

    bn1.call(input(7, [4, 7]));
    assert.deepEqual(bn1.weight!.shape, [7]);
    assert.deepEqual(bn1.runningMean!.shape, [7]);
    assert.deepEqual([...bn1.weight!.toArray()], [1, 1, 1, 1, 1, 1, 1]);
    assert.deepEqual(Object.keys(bn1.stateDict()), ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']);

    bn2.call(input(8, [2, 5, 4, 4]));
    assert.deepEqual(bn2.weight!.shape, [5]);
    assert.deepEqual(bn2.runningVar!.shape, [5]);
    assert.equal(bn2.numParameters(), 10);
    assert.equal(bn2.numBatchesTracked, 1);

    // The input size is now fixed: errors name the layer and the shapes.
    assert.throws(() => conv.call(input(9, [2, 4, 8, 8])), /LazyConv2d\(in=3, out=6, k=5\): input has 4 channels, expected 3 \(input \[2, 4, 8, 8\]\)/);
    assert.throws(() => lin.call(input(9, [4, 21])), /LazyLinear\(in=20, out=10\): input has 21 features \(input \[4, 21\]\)/);
    const l2 = new nn.Linear(120, 84);
    assert.throws(() => l2.call(cn.zeros([128, 256])), /Linear\(in=120, out=84\): input has 256 features \(input \[128, 256\]\)/);
    assert.throws(() => bn2.call(cn.zeros([2, 5, 4])), /LazyBatchNorm2d\(5\): expected a 4-D \[N, C, H, W\] input \(input \[2, 5, 4\]\)/);
  });
});

eachBackend('xavierInitCnn applied while lazy runs at materialization (Xavier-uniform bounds)', () => {
  cn.tidy(() => {
    cn.manualSeed(11);
    const net = new nn.Sequential(
      new nn.LazyConv2d(16, { kernelSize: 3, padding: 1 }),
      new nn.ReLU(),
      new nn.Flatten(),
      new nn.LazyLinear(32),
    );
    net.apply(nn.xavierInitCnn);
    const conv = net.at(0) as nn.Conv2d;
    const lin = net.at(3) as nn.Linear;
    assert.equal(conv.weight.pendingInits, 1);
    net.call(input(12, [2, 8, 2, 2])); // conv: fanIn 72, fanOut 144; linear: 64 -> 32
    assert.equal(conv.weight.pendingInits, 0);
    const check = (w: Tensor, fanIn: number, fanOut: number, label: string): void => {
      const xavier = Math.sqrt(6 / (fanIn + fanOut));
      const kaiming = 1 / Math.sqrt(fanIn); // the default init's bound, smaller here
      let max = 0;
      for (const v of w.toArray()) max = Math.max(max, Math.abs(v));
      assert.ok(max <= xavier, `${label}: max |w| ${max} exceeds the Xavier bound ${xavier}`);
      assert.ok(max > kaiming * 1.2, `${label}: max |w| ${max} looks like the default init (bound ${kaiming}), not Xavier (${xavier})`);
    };
    check(conv.weight, 72, 144, 'conv');
    check(lin.weight, 64, 32, 'linear');
    // Biases keep their default init U(±1/sqrt(fanIn)).
    for (const v of conv.bias!.toArray()) assert.ok(Math.abs(v) <= 1 / Math.sqrt(72));
    // Applied again after materialization it runs at once.
    const before = lin.weight.toArray();
    net.apply(nn.initCnn);
    assert.notDeepEqual(lin.weight.toArray(), before);
  });
});

/*
 * PyTorch 1.13: the lecture's AlexNet (LazyConv2d(96, 11, 4, 1), ..., LazyLinear(10)) on
 * torch.randn(1, 1, 224, 224): sum(p.numel() for p in net.parameters()) == 46764746, output shapes
 * (1, 96, 54, 54) ... (1, 256, 5, 5), Flatten (1, 6400), Linear (1, 4096), ..., (1, 10).
 */
eachBackend("the lecture's AlexNet has 46,764,746 parameters on 1x1x224x224 (PyTorch)", () => {
  const net = new nn.Sequential(
    new nn.LazyConv2d(96, { kernelSize: 11, stride: 4, padding: 1 }),
    new nn.ReLU(), new nn.MaxPool2d({ kernelSize: 3, stride: 2 }),
    new nn.LazyConv2d(256, { kernelSize: 5, padding: 2 }), new nn.ReLU(),
    new nn.MaxPool2d({ kernelSize: 3, stride: 2 }),
    new nn.LazyConv2d(384, { kernelSize: 3, padding: 1 }), new nn.ReLU(),
    new nn.LazyConv2d(384, { kernelSize: 3, padding: 1 }), new nn.ReLU(),
    new nn.LazyConv2d(256, { kernelSize: 3, padding: 1 }), new nn.ReLU(),
    new nn.MaxPool2d(3, { stride: 2 }), new nn.Flatten(),
    new nn.LazyLinear(4096), new nn.ReLU(), new nn.Dropout(0.5),
    new nn.LazyLinear(4096), new nn.ReLU(), new nn.Dropout(0.5),
    new nn.LazyLinear(10),
  );
  net.apply(nn.initCnn);
  const shapes: number[][] = [];
  for (const m of net) m.registerForwardHook((_m, _x, y) => void shapes.push([...y.shape]));
  cn.tidy(() => cn.noGrad(() => net.call(cn.randn([1, 1, 224, 224]))));
  assert.deepEqual(shapes, [
    [1, 96, 54, 54], [1, 96, 54, 54], [1, 96, 26, 26],
    [1, 256, 26, 26], [1, 256, 26, 26], [1, 256, 12, 12],
    [1, 384, 12, 12], [1, 384, 12, 12], [1, 384, 12, 12], [1, 384, 12, 12],
    [1, 256, 12, 12], [1, 256, 12, 12], [1, 256, 5, 5], [1, 6400],
    [1, 4096], [1, 4096], [1, 4096], [1, 4096], [1, 4096], [1, 4096], [1, 10],
  ]);
  assert.equal(net.numParameters(), 46_764_746);
  assert.deepEqual(
    net.namedParameters().map(([n, p]) => `${n} ${p.size}`),
    ['0.weight 11616', '0.bias 96', '3.weight 614400', '3.bias 256', '6.weight 884736', '6.bias 384',
      '8.weight 1327104', '8.bias 384', '10.weight 884736', '10.bias 256', '14.weight 26214400',
      '14.bias 4096', '17.weight 16777216', '17.bias 4096', '20.weight 40960', '20.bias 10'],
  );
  for (const p of net.parameters()) p.dispose();
});

function stats(xs: ArrayLike<number>): { max: number; mean: number; variance: number } {
  let max = 0;
  let s = 0;
  for (let i = 0; i < xs.length; i++) {
    max = Math.max(max, Math.abs(xs[i]!));
    s += xs[i]!;
  }
  const mean = s / xs.length;
  let v = 0;
  for (let i = 0; i < xs.length; i++) v += (xs[i]! - mean) ** 2;
  return { max, mean, variance: v / xs.length };
}

eachBackend('default init of Conv2d / Linear: U(±1/sqrt(fanIn)) for weight and bias (kaiming_uniform(a=√5))', () => {
  cn.manualSeed(3);
  const cases: [nn.Module & { weight: Tensor; bias: Tensor | null }, number][] = [
    [new nn.Conv2d(16, 64, { kernelSize: 3 }), 16 * 9],
    [new nn.Conv2d(8, 32, [5, 3], { groups: 2 }), 4 * 15],
    [new nn.Linear(400, 300), 400],
  ];
  for (const [m, fanIn] of cases) {
    const bound = 1 / Math.sqrt(fanIn);
    const w = stats(m.weight.toArray());
    assert.ok(w.max <= bound && w.max > 0.98 * bound, `${m.toString()}: weight max ${w.max} vs bound ${bound}`);
    assert.ok(Math.abs(w.mean) < 0.02 * bound, `${m.toString()}: weight mean ${w.mean}`);
    assert.ok(Math.abs(w.variance / (bound * bound / 3) - 1) < 0.05, `${m.toString()}: weight variance ${w.variance} vs ${bound * bound / 3}`);
    const b = stats(m.bias!.toArray());
    assert.ok(b.max <= bound, `${m.toString()}: bias max ${b.max} vs bound ${bound}`);
    assert.equal(m.weight.requiresGrad, true);
    m.dispose();
  }
  const noBias = new nn.Linear(3, 2, { bias: false });
  assert.deepEqual(noBias.namedParameters().map(([n]) => n), ['weight']);
  const bn = new nn.BatchNorm2d(3);
  assert.deepEqual([...bn.weight!.toArray(), ...bn.bias!.toArray(), ...bn.runningMean!.toArray(), ...bn.runningVar!.toArray()], [1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
});

eachBackend('zeroGrad, parameters survive tidy, layers forward and backward, dispose frees all', () => {
  const k = cn.getBackend();
  const start = k.memoryInUse();
  const net = new nn.Sequential(new nn.Conv2d(2, 3, 3, { padding: 1 }), new nn.BatchNorm2d(3), new nn.ReLU(), new nn.AvgPool2d(2), new nn.Flatten(), new nn.Linear(12, 4), new nn.Tanh(), new nn.Dropout(0.5), new nn.Linear(4, 2), new nn.Sigmoid());
  cn.tidy(() => {
    const y = net.call(input(1, [2, 2, 4, 4]));
    assert.deepEqual(y.shape, [2, 2]);
    y.sum().backward();
  });
  for (const p of net.parameters()) {
    assert.equal(p.isDisposed, false);
    assert.ok(p.grad !== null, 'every parameter got a gradient');
    assert.deepEqual(p.grad.shape, p.shape);
  }
  net.zeroGrad();
  assert.ok(net.parameters().every((p) => p.grad === null));
  // Dropout is the identity in eval mode.
  const d = new nn.Dropout(0.5).eval();
  cn.tidy(() => {
    const x = input(2, [10]);
    assert.equal(d.call(x), x);
  });
  // Lazy layers and the scratch BatchNorm leave nothing behind either.
  const lazy = new nn.Sequential(new nn.LazyConv2d(3, 3), new nn.LazyBatchNorm2d(), new nn.BatchNorm(3, 4), new nn.Flatten(), new nn.LazyLinear(2), new nn.LazyBatchNorm1d());
  lazy.apply(nn.xavierInitCnn);
  cn.tidy(() => lazy.call(input(3, [2, 1, 5, 5])).sum().backward());
  assert.ok(k.memoryInUse() > start);
  net.dispose();
  lazy.dispose();
  assert.equal(k.memoryInUse(), start, 'every byte was freed');
});
