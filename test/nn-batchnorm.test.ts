/**
 * Batch normalization: the lecture's scratch `batchNorm` / `BatchNorm` against a hand computation
 * and against the concise `BatchNorm2d`, moving statistics (biased variance for the scratch version,
 * unbiased for the concise one, as PyTorch), eval modes, and `BatchNorm1d` against PyTorch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as cn from '../src/index.js';
import type { BackendName, Tensor } from '../src/index.js';
import * as nn from '../src/nn/index.js';
import { assertClose, type Tol } from './helpers/assert-close.js';

const TOL: Tol = { atol: 2e-6, rtol: 2e-5 };

function eachBackend(name: string, fn: () => void): void {
  for (const b of ['reference', 'native'] as BackendName[]) {
    test(`${b}: ${name}`, (t) => {
      if (b === 'native' && !cn.nativeAvailable()) {
        t.skip('native addon not built');
        return;
      }
      cn.withBackend(b, () => cn.tidy(fn));
    });
  }
}

// X[i] = ((7 i) mod 11) / 4 - 1, shape [2, 3, 2, 2]: exact in float32, same in Python.
const XV = Float32Array.from({ length: 24 }, (_, i) => ((i * 7) % 11) / 4 - 1);
const X_SHAPE = [2, 3, 2, 2];

/*
 * PyTorch 1.13:
 *   vals = [((i*7) % 11)/4 - 1 for i in range(24)]; X = torch.tensor(vals).reshape(2,3,2,2)
 *   bn = nn.BatchNorm2d(3); bn.train(); Y = bn(X)          -> Y, running_mean, running_var (rm, rv)
 *   bn(X*2+1)                                               -> rm2, rv2
 */
const TORCH = {
  Y: [-1.738623857498169, 0.3779616951942444, -0.8315157294273376, 1.2850697040557861, 0.38910022377967834, -0.994367241859436,
    1.4267008304595947, 0.04323336482048035, -0.9370352625846863, 1.249380350112915, 0.0, -1.249380350112915, 0.3779616951942444,
    -0.8315157294273376, 1.2850697040557861, 0.07559233903884888, -0.994367241859436, 1.4267008304595947, 0.04323336482048035,
    -1.3402340412139893, 1.249380350112915, 0.0, -1.249380350112915, 0.9370352625846863],
  rm: [0.04374999925494194, 0.02187499962747097, 0.0],
  rv: [0.9781249761581421, 0.9597098231315613, 0.9732142686843872],
  rm2: [0.22687500715255737, 0.16343750059604645, 0.10000000149011612],
  rv2: [1.192812442779541, 1.1025781631469727, 1.1687499284744263],
};

/** Per-channel mean and biased / unbiased variance of the [2, 3, 2, 2] data, by hand. */
function channelStats(v: ArrayLike<number>): { mean: number[]; biased: number[]; unbiased: number[] } {
  const mean: number[] = [];
  const biased: number[] = [];
  const unbiased: number[] = [];
  for (let c = 0; c < 3; c++) {
    const xs: number[] = [];
    for (let n = 0; n < 2; n++) for (let j = 0; j < 4; j++) xs.push(v[n * 12 + c * 4 + j]!);
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    const ss = xs.reduce((a, b) => a + (b - m) ** 2, 0);
    mean.push(m);
    biased.push(ss / xs.length);
    unbiased.push(ss / (xs.length - 1));
  }
  return { mean, biased, unbiased };
}

function handNormalize(v: ArrayLike<number>, mean: number[], variance: number[], eps = 1e-5): number[] {
  return Array.from(v, (x, i) => {
    const c = Math.floor(i / 4) % 3;
    return (x - mean[c]!) / Math.sqrt(variance[c]! + eps);
  });
}

eachBackend('scratch batchNorm (4-D): hand computation, concise BatchNorm2d, moving stats with the BIASED variance', () => {
  const X = cn.tensor(XV, { shape: X_SHAPE });
  const gamma = cn.ones([1, 3, 1, 1]);
  const beta = cn.zeros([1, 3, 1, 1]);
  const mm0 = cn.zeros([1, 3, 1, 1]);
  const mv0 = cn.ones([1, 3, 1, 1]);
  const [Y, mm, mv] = nn.batchNorm(X, gamma, beta, mm0, mv0, 1e-5, 0.1);
  const st = channelStats(XV);
  assert.deepEqual(Y.shape, X_SHAPE);
  assertClose(Y.toArray(), handNormalize(XV, st.mean, st.biased), TOL, 'scratch Y vs hand');
  assertClose(Y.toArray(), TORCH.Y, TOL, 'scratch Y vs torch BatchNorm2d');
  assert.deepEqual(mm.shape, [1, 3, 1, 1]);
  assertClose(mm.toArray(), st.mean.map((m) => 0.1 * m), TOL, 'scratch moving mean');
  assertClose(mv.toArray(), st.biased.map((v) => 0.9 + 0.1 * v), TOL, 'scratch moving var (biased)');
  assert.equal(mm.requiresGrad, false);
  // The inputs are not modified.
  assert.deepEqual([...mm0.toArray()], [0, 0, 0]);

  // Concise layer: same output, running_var from the UNBIASED variance (PyTorch's numbers).
  const bn = new nn.BatchNorm2d(3);
  const Yc = bn.call(X);
  assertClose(Yc.toArray(), TORCH.Y, TOL, 'BatchNorm2d Y vs torch');
  assertClose(bn.runningMean!.toArray(), TORCH.rm, TOL, 'running_mean');
  assertClose(bn.runningVar!.toArray(), TORCH.rv, TOL, 'running_var (torch)');
  assertClose(bn.runningVar!.toArray(), st.unbiased.map((v) => 0.9 + 0.1 * v), TOL, 'running_var (hand, unbiased)');
  assert.equal(bn.stateDict()['num_batches_tracked']!.item(), 1);
  bn.call(X.mul(2).add(1));
  assertClose(bn.runningMean!.toArray(), TORCH.rm2, TOL, 'running_mean after 2 steps');
  assertClose(bn.runningVar!.toArray(), TORCH.rv2, TOL, 'running_var after 2 steps');
  assert.equal(bn.numBatchesTracked, 2);

  // Eval mode uses the running statistics and leaves them alone.
  bn.eval();
  const Ye = bn.call(X);
  assertClose(Ye.toArray(), handNormalize(XV, TORCH.rm2, TORCH.rv2), TOL, 'BatchNorm2d eval');
  assertClose(bn.runningVar!.toArray(), TORCH.rv2, TOL, 'eval keeps running_var');
  assert.equal(bn.numBatchesTracked, 2);
});

eachBackend('scratch and concise batch norm have the same gradients', () => {
  const gX = cn.randn([4, 3, 3, 3], { generator: new cn.Generator(5) });
  const dY = cn.randn([4, 3, 3, 3], { generator: new cn.Generator(6) });
  const grads = (useScratch: boolean): number[][] => {
    const X = cn.tensor(gX.toArray(), { shape: gX.shape, requiresGrad: true });
    const m: nn.Module = useScratch ? new nn.BatchNorm(3, 4) : new nn.BatchNorm2d(3);
    const y = m.call(X);
    y.mul(dY).sum().backward();
    const ps = m.parameters();
    const out = [[...X.grad!.toArray()], ...ps.map((p) => [...p.grad!.toArray()])];
    for (const p of ps) p.dispose();
    return out;
  };
  const s = grads(true);
  const c = grads(false);
  assertClose(s[0]!, c[0]!, { atol: 1e-5, rtol: 1e-4 }, 'dX');
  assertClose(s[1]!, c[1]!, { atol: 1e-5, rtol: 1e-4 }, 'dgamma');
  assertClose(s[2]!, c[2]!, { atol: 1e-5, rtol: 1e-4 }, 'dbeta');
});

eachBackend('scratch BatchNorm module: moving stats replaced (old disposed), prediction mode via noGrad', () => {
  const bn = new nn.BatchNorm(3, 4);
  assert.deepEqual(bn.gamma.shape, [1, 3, 1, 1]);
  // The moving statistics are buffers (saved with the model), unlike the lecture's plain attributes.
  assert.deepEqual(Object.keys(bn.stateDict()), ['gamma', 'beta', 'moving_mean', 'moving_var']);
  const X = cn.tensor(XV, { shape: X_SHAPE });
  const old = bn.movingMean;
  const Y = bn.call(X);
  assertClose(Y.toArray(), TORCH.Y, TOL, 'BatchNorm (scratch) Y');
  assert.equal(old.isDisposed, true);
  const st = channelStats(XV);
  assertClose(bn.movingMean.toArray(), st.mean.map((m) => 0.1 * m), TOL, 'movingMean');
  assertClose(bn.movingVar.toArray(), st.biased.map((v) => 0.9 + 0.1 * v), TOL, 'movingVar (biased)');

  // eval() does not matter to the scratch version; noGrad does.
  const mm = bn.movingMean;
  const mv = bn.movingVar;
  const Yp = cn.noGrad(() => bn.call(X));
  assert.equal(bn.movingMean, mm);
  assert.equal(bn.movingVar, mv);
  assert.equal(bn.stateDict().moving_mean, bn.movingMean, 'the state dict holds the current statistics');
  // loadStateDict restores them (a trained model predicts with its own statistics).
  const fresh = new nn.BatchNorm(3, 4);
  fresh.loadStateDict(bn.stateDict());
  assert.deepEqual(Array.from(fresh.movingVar.toArray()), Array.from(bn.movingVar.toArray()));
  assertClose(cn.noGrad(() => fresh.call(X)).toArray(), Yp.toArray(), TOL, 'the loaded module predicts the same');
  fresh.dispose();
  assertClose(Yp.toArray(), handNormalize(XV, st.mean.map((m) => 0.1 * m), st.biased.map((v) => 0.9 + 0.1 * v)), TOL, 'prediction mode');

  // 2-D (fully connected) version: statistics over the batch dimension.
  const bn2 = new nn.BatchNorm(3, 2);
  const X2 = cn.tensor([[1, 2, 3], [3, 6, 9], [5, 10, 15], [7, 14, 21]]);
  const Y2 = bn2.call(X2);
  // Column c is (c+1) * [1, 3, 5, 7]: mean 4(c+1), biased var 5(c+1)^2.
  const exp2: number[] = [];
  for (const r of [1, 3, 5, 7]) for (let c = 1; c <= 3; c++) exp2.push((r * c - 4 * c) / Math.sqrt(5 * c * c + 1e-5));
  assertClose(Y2.toArray(), exp2, TOL, 'scratch 2-D Y');
  assertClose(bn2.movingMean.toArray(), [0.4, 0.8, 1.2], TOL, '2-D movingMean');
  assertClose(bn2.movingVar.toArray(), [0.9 + 0.5, 0.9 + 2, 0.9 + 4.5], TOL, '2-D movingVar');
  assert.throws(() => bn2.call(cn.zeros([2, 4])), /BatchNorm\(3, numDims=2\): input has 4 channels \(input \[2, 4\]\)/);
  for (const t of [bn.movingMean, bn.movingVar, bn2.movingMean, bn2.movingVar, ...bn.parameters(), ...bn2.parameters()]) t.dispose();
});

/*
 * PyTorch 1.13:
 *   X1 = torch.tensor([((i*5) % 7)/2 - 1 for i in range(12)]).reshape(4,3)
 *   b1 = nn.BatchNorm1d(3); Y1 = b1(X1); b1.eval(); b1(X1)
 */
eachBackend('BatchNorm1d: train and eval against PyTorch', () => {
  const X1 = cn.tensor(Float32Array.from({ length: 12 }, (_, i) => ((i * 5) % 7) / 2 - 1), { shape: [4, 3] });
  const b1 = new nn.BatchNorm1d(3);
  assertClose(b1.call(X1).toArray(), [-1.3416192531585693, 0.7844621539115906, -1.3416193723678589, -0.44720643758773804, 1.1766932010650635,
    -0.4472064971923828, 0.44720643758773804, -1.1766932010650635, 0.44720637798309326, 1.3416192531585693, -0.7844621539115906,
    1.3416192531585693], TOL, 'BatchNorm1d train');
  assertClose(b1.runningMean!.toArray(), [-0.02500000037252903, 0.05000000074505806, 0.125], TOL, 'rm');
  assertClose(b1.runningVar!.toArray(), [0.9416666626930237, 1.1166666746139526, 0.9416666626930237], TOL, 'rv');
  b1.eval();
  assertClose(b1.call(X1).toArray(), [-1.0047399997711182, 1.3721585273742676, 0.3864384591579437, -0.48948872089385986, 1.8453166484832764,
    0.9016897678375244, 0.025762563571333885, -0.9936320781707764, 1.4169410467147827, 0.5410138368606567, -0.5204739570617676,
    1.932192325592041], TOL, 'BatchNorm1d eval');
  // [N, C, L] input works too; a single value per channel in training mode is an error.
  b1.train();
  assert.deepEqual(b1.call(cn.randn([2, 3, 5])).shape, [2, 3, 5]);
  assert.throws(() => b1.call(cn.zeros([1, 3])), /BatchNorm1d\(3\): expected more than 1 value per channel when training \(input \[1, 3\]\)/);
  // momentum null = cumulative moving average (factor 1/numBatchesTracked).
  const cum = new nn.BatchNorm1d(3, { momentum: null });
  cum.call(X1);
  assertClose(cum.runningMean!.toArray(), [-0.25, 0.5, 1.25], TOL, 'cumulative running mean');
  const p: Tensor[] = [...b1.parameters(), ...b1.buffers(), ...cum.parameters(), ...cum.buffers()];
  for (const t of p) t.dispose();
});
