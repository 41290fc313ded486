/**
 * One rank of the data-parallel tests, run by `test/dist-mpi.test.ts` under
 * `mpirun -np 2 node dist/test/helpers/dist-worker.js <case> ...` (or alone: a world of one).
 *
 * - `world`: the collectives, the start-up agreements, the gradient reducer and SyncBatchNorm's
 *   values and gradients against one process computing on the whole batch; assertions run here
 *   and the rank prints `ok <rank>` at the end.
 * - `train <out> <backend> <steps> <batch>`: AlexNet's layers (no dropout) on the first
 *   steps x batch Fashion-MNIST images at 224x224 for one epoch with the Trainer and
 *   DistributedDataParallel; rank 0 saves the weights to <out> and prints the buckets as JSON.
 * - `throw`: trains lenet and throws on rank 1 at its 2nd step; the error goes to `World.abort`
 *   as in the CLI.
 */
import assert from 'node:assert/strict';
import * as cn from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import * as nn from '../../src/nn/index.js';
import { batchNorm, cat, mul, sum } from '../../src/ops/index.js';
import { saveSafetensors } from '../../src/io/safetensors.js';
import { Trainer } from '../../src/train/trainer.js';
import { createModel } from '../../src/models/index.js';
import { loadData } from '../../src/cli/data.js';
import { DistributedDataParallel, GradientReducer, WorldStartError, initWorld, syncBatchNorm, type World } from '../../src/dist/index.js';

const [kind, ...rest] = process.argv.slice(2);

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    assert.ok(d <= tol * (1 + Math.abs(b[i]!)), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

/** Deterministic values for rank r (so every rank can build every rank's data). */
function seeded(shape: number[], seed: number): Tensor {
  return cn.randn(shape, { generator: new cn.Generator(seed) });
}

function worldCase(world: World): void {
  const r = world.rank;
  const W = world.size;
  assert.equal(W, 2, 'the world case runs on 2 ranks');

  // allreduce: sums, averages, max/min, each dtype; two in flight, waited in reverse order.
  const a = world.allreduce(Float32Array.of(r + 1, 10 * (r + 1)));
  assert.deepEqual(Array.from(a), [3, 30]);
  const b = world.allreduce(Float64Array.of(r, 0.5), { average: true });
  assert.deepEqual(Array.from(b), [0.5, 0.5]);
  assert.deepEqual(Array.from(world.allreduce(Int32Array.of(r, -r), { op: 'max' })), [1, 0]);
  assert.deepEqual(Array.from(world.allreduce(Int32Array.of(r, -r), { op: 'min' })), [0, -1]);
  const big = new Float32Array(3_000_000).fill(r + 1);
  const small = Float32Array.of(r);
  const w1 = world.allreduceAsync(big);
  const w2 = world.allreduceAsync(small);
  w2.wait();
  w1.wait();
  assert.equal(big[0], 3);
  assert.equal(big[2_999_999], 3);
  assert.equal(small[0], 1);
  assert.deepEqual(world.sum([r, 2]), [1, 4]);

  // broadcast from rank 1: bytes (length travels first) and JSON.
  const bytes = world.broadcastBytes(r === 1 ? Uint8Array.of(7, 8, 9) : null, 1);
  assert.deepEqual(Array.from(bytes), [7, 8, 9]);
  assert.deepEqual(world.broadcastJson(r === 1 ? { from: 1, s: 'é' } : null, 1), { from: 1, s: 'é' });
  world.barrier();

  // startTogether: nobody failed; then rank 1 failed: every rank throws, only rank 1 reports.
  world.startTogether(null);
  const err = Object.assign(new Error('no data here'), { exitCode: 3 });
  assert.throws(
    () => world.startTogether(r === 1 ? err : null),
    (e: unknown) => e instanceof WorldStartError && e.exitCode === 3 && e.report === (r === 1 ? `${world.describe()}: no data here` : null),
  );
  // checkSame: equal entries pass; a rank with another lr is refused, rank 1 names the difference.
  world.checkSame({ model: 'lenet', lr: 0.1 });
  assert.throws(
    () => world.checkSame({ model: 'lenet', lr: r === 1 ? 0.2 : 0.1 }),
    (e: unknown) =>
      e instanceof WorldStartError &&
      e.exitCode === 2 &&
      (r === 1 ? /^rank 1 of 2 .*: started differently from rank 0: lr 0\.2 vs 0\.1; every rank must run/.test(e.report ?? '') : e.report === null),
  );

  // GradientReducer: rank r's loss sum(p1 * c_r) + sum(p2 * d_r) (p3 unused) -> averaged grads.
  for (const opts of [{ bucketCapMb: 1e-6, overlap: true }, { bucketCapMb: 25, overlap: false }]) {
    const p1 = cn.zeros([3]).requiresGrad_();
    const p2 = cn.zeros([2, 2]).requiresGrad_();
    const p3 = cn.zeros([5]).requiresGrad_();
    const reducer = new GradientReducer([p1, p2, p3], world, opts);
    // Reverse order of registration; tiny buckets hold one parameter each.
    assert.deepEqual(reducer.buckets, opts.bucketCapMb < 1 ? [[p3], [p2], [p1]] : [[p3, p2, p1]]);
    const c = (rank: number) => [1 + rank, 2 * rank, -3];
    const d = (rank: number) => [rank, 1, 4, -rank];
    cn.tidy(() => {
      const loss = sum(mul(p1, cn.tensor(c(r)))).add(sum(mul(p2, cn.tensor(d(r), { shape: [2, 2] }))));
      loss.backward();
    });
    // With overlap the buckets of p1 and p2 were started during backward.
    assert.equal(reducer.pending, true);
    reducer.finish();
    assert.deepEqual(Array.from(p1.grad!.toArray()), [1.5, 1, -3]);
    assert.deepEqual(Array.from(p2.grad!.toArray()), [0.5, 1, 4, -0.5]);
    assert.deepEqual(Array.from(p3.grad!.toArray()), [0, 0, 0, 0, 0]);
    reducer.remove();
  }

  // SyncBatchNorm against batchNorm over the whole batch in one process. Rank q holds x_q [4, 3, 2, 2]
  // and its loss sum(y_q * w_q); the one-process loss is the sum of both over cat(x_0, x_1).
  const xs = [0, 1].map((q) => seeded([4, 3, 2, 2], 10 + q).mul(2).add(q));
  const ws = [0, 1].map((q) => seeded([4, 3, 2, 2], 20 + q));
  const gamma = cn.tensor([1.5, -0.5, 2]).requiresGrad_();
  const beta = cn.tensor([0.1, 0.2, -0.3]).requiresGrad_();
  const rm = cn.zeros([3]);
  const rv = cn.ones([3]);
  const X = cat(xs, 0).requiresGrad_();
  const refRm = cn.zeros([3]);
  const refRv = cn.ones([3]);
  const Y = batchNorm(X, refRm, refRv, gamma, beta, { training: true, momentum: 0.1, eps: 1e-5 });
  sum(mul(Y, cat(ws, 0))).backward();
  const [dX, dGamma, dBeta] = [X.grad!.toArray(), gamma.grad!.toArray(), beta.grad!.toArray()];
  gamma.grad = null;
  beta.grad = null;
  const x = xs[r]!.detach().requiresGrad_();
  const y = syncBatchNorm(x, rm, rv, gamma, beta, world, { momentum: 0.1, eps: 1e-5 });
  close(y.toArray(), Y.toArray().subarray(r * 48, (r + 1) * 48), 1e-5, 'syncBatchNorm y');
  close(rm.toArray(), refRm.toArray(), 1e-6, 'running_mean');
  close(rv.toArray(), refRv.toArray(), 1e-6, 'running_var');
  sum(mul(y, ws[r]!)).backward();
  close(x.grad!.toArray(), dX.subarray(r * 48, (r + 1) * 48), 1e-5, 'syncBatchNorm dx');
  // Each rank holds its part of dgamma / dbeta; their sum is the one-process gradient.
  close(world.allreduce(Float32Array.from(gamma.grad!.toArray())), dGamma, 1e-5, 'dgamma');
  close(world.allreduce(Float32Array.from(beta.grad!.toArray())), dBeta, 1e-5, 'dbeta');
  console.log(`ok ${r}`);
}

/** AlexNet's layers without dropout (dropout draws different masks for a split batch). */
function alexnetNoDropout(): cn.train.Classifier {
  const model = createModel('alexnet', { lr: 0.01 });
  const net = (model as unknown as { net: nn.Sequential }).net;
  for (const [name, m] of net.namedChildren()) if (m instanceof nn.Dropout) net.registerModule(name, new nn.Identity());
  return model;
}

async function trainCase(world: World): Promise<void> {
  const [out, backend, stepsArg, batchArg] = rest;
  cn.setBackend(backend as 'native' | 'reference');
  const steps = Number(stepsArg);
  const batchSize = Number(batchArg);
  const data = await loadData({ data: 'fashion-mnist', batchSize, resize: [224, 224], seed: 5, limitTrain: steps * batchSize, limitVal: batchSize });
  if (world.isDistributed) data.shard(world.rank, world.size);
  cn.manualSeed(1);
  const model = alexnetNoDropout();
  model.materialize([1, 1, 224, 224]);
  const ddp = new DistributedDataParallel(model, world);
  await new Trainer({ maxEpochs: 1, dataParallel: ddp }).fit(model, data);
  ddp.checkInSync();
  if (world.rank === 0) {
    saveSafetensors(out!, model.stateDict());
    console.log(JSON.stringify({ buckets: ddp.reducer.buckets.map((b) => b.reduce((s, p) => s + p.size, 0)) }));
  }
}

async function throwCase(world: World): Promise<void> {
  const data = await loadData({ data: 'fashion-mnist', batchSize: 32, resize: [28, 28], seed: 5, limitTrain: 1024, limitVal: 32 });
  data.shard(world.rank, world.size);
  cn.manualSeed(1);
  const model = createModel('lenet');
  model.materialize([1, 1, 28, 28]);
  const trainer = new Trainer({ maxEpochs: 100, logEvery: 1, dataParallel: new DistributedDataParallel(model, world) });
  trainer.on('batch', (e) => {
    if (world.rank === 1 && e.batch === 2) throw new Error('boom at step 2');
  });
  await trainer.fit(model, data);
}

const world = initWorld();
try {
  if (kind === 'world') worldCase(world);
  else if (kind === 'train') await trainCase(world);
  else if (kind === 'throw') await throwCase(world);
  else throw new Error(`dist-worker: unknown case '${kind}'`);
  world.finalize();
  process.exit(0);
} catch (e) {
  if (world.isDistributed) world.abort(e instanceof assert.AssertionError ? `${e.message}\n${e.stack}` : e);
  throw e;
}
