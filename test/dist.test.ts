/**
 * Data-parallel building blocks that need no second process: the launcher's environment, the
 * thread share, DistributedSampler against PyTorch's (indices computed with torch 1.13 and stored
 * below), the DataLoader's sampler hook, the post-accumulate-grad hook of backward, the reducer's
 * buckets, a world of one, the mpirun command and notice filter, and a build without MPI. The
 * multi-process behaviour is in dist-mpi.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import * as cn from '../src/index.js';
import { registerPostAccumulateGradHook } from '../src/autograd/index.js';
import { mul, sum } from '../src/ops/index.js';
import { DataLoader, Dataset } from '../src/data/index.js';
import {
  DistributedSampler,
  GradientReducer,
  World,
  defaultThreads,
  detectLaunch,
  filterMpirunStderr,
  fingerprint,
  mpirunCommand,
  slurmTasksPerNode,
  translateNotice,
} from '../src/dist/index.js';

test('detectLaunch reads mpirun, srun and PMI variables; a plain start or a batch script is a world of one', () => {
  assert.deepEqual(detectLaunch({}), { launcher: null, size: 1, rank: 0, localRank: 0, localSize: 1 });
  assert.deepEqual(
    detectLaunch({ OMPI_COMM_WORLD_SIZE: '4', OMPI_COMM_WORLD_RANK: '3', OMPI_COMM_WORLD_LOCAL_RANK: '1', OMPI_COMM_WORLD_LOCAL_SIZE: '2' }),
    { launcher: 'mpirun', size: 4, rank: 3, localRank: 1, localSize: 2 },
  );
  // srun: 5 tasks as 2, 2, 1 per node; task 4 is the only one on node 2.
  assert.deepEqual(
    detectLaunch({ SLURM_STEP_NUM_TASKS: '5', SLURM_PROCID: '4', SLURM_LOCALID: '0', SLURM_NODEID: '2', SLURM_STEP_TASKS_PER_NODE: '2(x2),1' }),
    { launcher: 'srun', size: 5, rank: 4, localRank: 0, localSize: 1 },
  );
  // Inside an sbatch script but outside srun only SLURM_NTASKS is set: not a world of several.
  assert.equal(detectLaunch({ SLURM_NTASKS: '4', SLURM_PROCID: '0', SLURM_JOB_ID: '7' }).size, 1);
  assert.deepEqual(detectLaunch({ PMI_SIZE: '2', PMI_RANK: '1' }), { launcher: 'pmi', size: 2, rank: 1, localRank: 1, localSize: 2 });
  assert.equal(detectLaunch({ OMPI_COMM_WORLD_SIZE: '1', OMPI_COMM_WORLD_RANK: '0' }).size, 1);
  assert.throws(() => detectLaunch({ OMPI_COMM_WORLD_SIZE: '2', OMPI_COMM_WORLD_RANK: '2' }), /rank 2 in a world of 2/);
  assert.throws(() => detectLaunch({ OMPI_COMM_WORLD_SIZE: 'two' }), /OMPI_COMM_WORLD_SIZE="two"/);
  assert.deepEqual(slurmTasksPerNode('3(x2),1,4'), [3, 3, 1, 4]);
  assert.throws(() => slurmTasksPerNode('2x3'), /SLURM_STEP_TASKS_PER_NODE/);
});

test('defaultThreads shares the cores among the local processes, within the cores a process is bound to', () => {
  assert.equal(defaultThreads(1, 8, 8), 8);
  assert.equal(defaultThreads(2, 8, 8), 4);
  assert.equal(defaultThreads(3, 8, 8), 2);
  assert.equal(defaultThreads(16, 8, 8), 1); // oversubscribed: never 0
  assert.equal(defaultThreads(2, 8, 1), 1); // mpirun bound this rank to one core
  assert.equal(defaultThreads(4, 16, 8), 4); // bound to a socket of 8 cores shared by 2 ranks
});

test("DistributedSampler gives each rank PyTorch's indices: disjoint, covering, padded evenly", () => {
  // /usr/bin/python3: [list(torch.utils.data.DistributedSampler(range(n), num_replicas=W, rank=r,
  //   shuffle=False, drop_last=drop)) for r in range(W)]  (torch 1.13)
  const torchParts = [
    { n: 10, W: 3, dropLast: false, parts: [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]] },
    { n: 10, W: 3, dropLast: true, parts: [[0, 3, 6], [1, 4, 7], [2, 5, 8]] },
    { n: 2, W: 4, dropLast: false, parts: [[0], [1], [0], [1]] },
    { n: 12, W: 4, dropLast: false, parts: [[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, 11]] },
    { n: 7, W: 2, dropLast: false, parts: [[0, 2, 4, 6], [1, 3, 5, 0]] },
    { n: 7, W: 2, dropLast: true, parts: [[0, 2, 4], [1, 3, 5]] },
  ];
  for (const { n, W, dropLast, parts } of torchParts) {
    const order = Int32Array.from({ length: n }, (_, i) => i);
    parts.forEach((expected, rank) => {
      const s = new DistributedSampler({ numReplicas: W, rank, dropLast });
      assert.equal(s.numSamples(n), expected.length, `n=${n} W=${W} rank ${rank}`);
      assert.deepEqual(Array.from(s.select(order)), expected, `n=${n} W=${W} dropLast=${dropLast} rank ${rank}`);
    });
  }
  // It picks positions of the given order (the epoch's permutation), not sample ids.
  const perm = Int32Array.of(5, 2, 9, 0, 7, 1, 3, 8, 6, 4);
  assert.deepEqual(Array.from(new DistributedSampler({ numReplicas: 3, rank: 1 }).select(perm)), [2, 7, 8, 5]); // positions 1, 4, 7, 10 mod 10
  // Unpadded (sharded validation): every sample exactly once over the ranks.
  const seen = [0, 1, 2].flatMap((rank) => Array.from(new DistributedSampler({ numReplicas: 3, rank, pad: false }).select(perm)));
  assert.deepEqual(seen.sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual([0, 1, 2].map((rank) => new DistributedSampler({ numReplicas: 3, rank, pad: false }).numSamples(10)), [4, 3, 3]);
  assert.throws(() => new DistributedSampler({ numReplicas: 2, rank: 2 }), /rank must be an integer in 0\.\.1/);
});

test("two ranks' shuffled loaders with batch B/2 read exactly one loader's batches of B", () => {
  const n = 24;
  const ds = Dataset.fromArrays({ pixels: Float32Array.from({ length: n }, (_, i) => i), labels: Int32Array.from({ length: n }, (_, i) => i), shape: [n, 1, 1, 1] });
  const ids = (loader: DataLoader): number[][] => {
    const out: number[][] = [];
    for (const b of loader) {
      out.push(Array.from(b.y.toArray()));
      b.x.dispose();
      b.y.dispose();
    }
    return out;
  };
  const one = new DataLoader(ds, { batchSize: 8, shuffle: true, seed: 3 });
  const ranks = [0, 1].map(
    (rank) => new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 3, sampler: new DistributedSampler({ numReplicas: 2, rank }) }),
  );
  for (let epoch = 0; epoch < 2; epoch++) {
    const whole = ids(one);
    const parts = ranks.map(ids);
    assert.equal(ranks[0]!.length, 3);
    whole.forEach((batch, k) => {
      // Rank r holds the batch's rows r, r + 2, ...: together the same images.
      assert.deepEqual(parts[0]![k], batch.filter((_, i) => i % 2 === 0));
      assert.deepEqual(parts[1]![k], batch.filter((_, i) => i % 2 === 1));
    });
  }
  // The generators moved identically: the order does not depend on the number of processes.
  assert.deepEqual(ranks[0]!.generator.getState(), one.generator.getState());
});

test('post-accumulate-grad hooks run once per backward, after the last contribution to the leaf', () => {
  const w = cn.tensor([1, 2, 3]).requiresGrad_();
  const unused = cn.tensor([1]).requiresGrad_();
  const seen: number[][] = [];
  const remove = registerPostAccumulateGradHook(w, (leaf) => seen.push(Array.from(leaf.grad!.toArray())));
  registerPostAccumulateGradHook(unused, () => assert.fail('a leaf backward does not reach gets no call'));
  // w is used twice: d/dw sum(w * 2) + sum(w * w) = 2 + 2w; the hook sees the whole sum once.
  cn.tidy(() => sum(mul(w, 2)).add(sum(mul(w, w))).backward());
  assert.deepEqual(seen, [[4, 6, 8]]);
  // A second pass accumulates into .grad; the hook sees the accumulated gradient.
  cn.tidy(() => sum(w).backward());
  assert.deepEqual(seen, [[4, 6, 8], [5, 7, 9]]);
  // backward() of a leaf itself.
  w.grad = null;
  w.backward(cn.tensor([1, 1, 1]));
  assert.deepEqual(seen.at(-1), [1, 1, 1]);
  remove();
  cn.tidy(() => sum(w).backward());
  assert.equal(seen.length, 3);
  assert.throws(() => registerPostAccumulateGradHook(cn.tensor([1]), () => {}), /does not require grad/);
});

test('a world of one: collectives return their input, start-up checks pass, the reducer leaves gradients alone', () => {
  const world = new World({ rank: 0, size: 1, localRank: 0, localSize: 1, host: '', launcher: null, library: '' }, null, 0);
  assert.equal(world.isDistributed, false);
  assert.deepEqual(Array.from(world.allreduce(Float32Array.of(1, 2), { average: true })), [1, 2]);
  assert.deepEqual(world.sum([3, 4]), [3, 4]);
  assert.deepEqual(world.broadcastJson({ a: 1 }), { a: 1 });
  world.checkSame({ anything: 1 });
  world.startTogether(null);
  assert.throws(() => world.startTogether(new Error('the error itself')), /the error itself/);

  const params = [cn.zeros([1000]).requiresGrad_(), cn.zeros([10]).requiresGrad_(), cn.zeros([2000]).requiresGrad_(), cn.zeros([5]).requiresGrad_()];
  // Buckets of ~4 kB (1000 floats) in reverse order of registration: a bucket closes once it is full.
  // (The first bucket's default cap of 1 MB is above 4 kB: it gets 4 kB too.)
  const r = new GradientReducer(params, world, { bucketCapMb: 0.004 });
  assert.deepEqual(r.buckets, [[params[3], params[2]], [params[1], params[0]]]);
  // The first bucket (the last layers) is smaller, so that communication starts early (DDP's 1 MB).
  const four = [0, 1, 2, 3].map(() => cn.zeros([500]).requiresGrad_());
  assert.deepEqual(new GradientReducer(four, world, { bucketCapMb: 0.004, firstBucketCapMb: 0.002 }).buckets, [[four[3]], [four[2], four[1]], [four[0]]]);
  assert.deepEqual(new GradientReducer(four, world, { bucketCapMb: 0.004, firstBucketCapMb: 1 }).buckets, [[four[3], four[2]], [four[1], four[0]]]);
  cn.tidy(() => sum(params[0]!).backward());
  r.finish();
  assert.deepEqual(Array.from(params[0]!.grad!.toArray().subarray(0, 2)), [1, 1]);
  assert.equal(params[1]!.grad, null);
  r.remove();
});

test('mpirunCommand and the notice filter: a killed rank becomes one line, errors already reported are dropped', async () => {
  assert.deepEqual(mpirunCommand({ nproc: 2, command: ['node', 'm.js'], root: true }), [
    'mpirun', '-np', '2', '--oversubscribe', '--bind-to', 'none', '--mca', 'btl_vader_single_copy_mechanism', 'none', '--allow-run-as-root', 'node', 'm.js',
  ]);
  assert.deepEqual(mpirunCommand({ nproc: 3, command: ['x'], root: false }).slice(0, 6), ['mpirun', '-np', '3', '--oversubscribe', '--bind-to', 'none']);
  const rule = '-'.repeat(74);
  // What Open MPI 4.1 printed in these situations on this machine.
  const input = [
    'epoch   1 | train loss 2.35',
    rule,
    'mpirun noticed that process rank 1 with PID 0 on node vm exited on signal 9 (Killed).',
    rule,
    'convnet: rank 1 of 2 on vm: boom',
    rule,
    'MPI_ABORT was invoked on rank 1 in communicator MPI_COMM_WORLD',
    'with errorcode 1.',
    '',
    'NOTE: invoking MPI_ABORT causes Open MPI to kill all MPI processes.',
    rule,
    '[vm:01234] 1 more process has sent help message help-mpi-api.txt / mpi-abort',
    '[vm:01234] Set MCA parameter "orte_base_help_aggregate" to 0 to see all help / error messages',
    rule,
    'Primary job  terminated normally, but 1 process returned',
    'a non-zero exit code. Per user-direction, the job has been aborted.',
    rule,
    rule,
    'There are not enough slots available in the system to satisfy the 9',
    'slots that were requested by the application:',
    rule,
  ].join('\n');
  const src = new PassThrough();
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  const done = filterMpirunStderr(src, out);
  src.end(input);
  await done;
  assert.equal(
    text,
    [
      'epoch   1 | train loss 2.35',
      'convnet: rank 1 on vm was killed by signal 9 (Killed); the other ranks were stopped',
      'convnet: rank 1 of 2 on vm: boom',
      rule,
      'There are not enough slots available in the system to satisfy the 9',
      'slots that were requested by the application:',
      rule,
      '',
    ].join('\n'),
  );
  assert.equal(translateNotice(['something else entirely']), null);
});

test('fingerprint: equal parts hash equal, any change or regrouping changes the hash', () => {
  const a = fingerprint(Float32Array.of(1, 2, 3), 'lenet', 28);
  assert.match(a, /^[0-9a-f]{8}$/);
  assert.equal(fingerprint(Float32Array.of(1, 2, 3), 'lenet', 28), a);
  assert.notEqual(fingerprint(Float32Array.of(1, 2, 3.0000005), 'lenet', 28), a);
  assert.notEqual(fingerprint('ab', 'c'), fingerprint('a', 'bc'));
  assert.notEqual(fingerprint(Uint8Array.of(1, 2, 3)), fingerprint(Uint8Array.of(1, 2, 4)));
});

test('a build without the MPI addon trains single-process and says so in one line when asked for more', () => {
  // A copy of the compiled package with neither addon next to it (the reference backend runs).
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const copy = mkdtempSync(join(tmpdir(), 'convnet-nompi-'));
  try {
    mkdirSync(join(copy, 'dist'));
    cpSync(join(root, 'dist', 'src'), join(copy, 'dist', 'src'), { recursive: true });
    cpSync(join(root, 'package.json'), join(copy, 'package.json'));
    symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
    const main = join(copy, 'dist', 'src', 'cli', 'main.js');
    const r = spawnSync(process.execPath, [main, 'train', 'lenet', '--nproc', '2', '--limit-train', '64'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(
      r.stderr,
      "convnet: --nproc 2: this build of convnet has no MPI support (install Debian's libopenmpi-dev and openmpi-bin, then run npm run build:native)\n",
    );
    // Started by a launcher as one of two ranks, it refuses in one line instead of training alone.
    const env = { ...process.env, OMPI_COMM_WORLD_SIZE: '2', OMPI_COMM_WORLD_RANK: '1' };
    const r2 = spawnSync(process.execPath, [main, 'train', 'lenet', '--limit-train', '64'], { encoding: 'utf8', timeout: 60_000, env });
    assert.equal(r2.status, 1, r2.stderr);
    assert.match(r2.stderr, /^convnet: cannot join the MPI world: started as rank 1 of 2 by mpirun, but this build of convnet has no MPI support .*\n$/);
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
});
