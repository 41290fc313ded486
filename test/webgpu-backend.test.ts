/**
 * What the webgpu backend does beyond the kernel contract: selection (async creation, env var,
 * one-line errors without an adapter, CPU backends unaffected), asynchronous-only read-back (a
 * clear error from the synchronous paths), the caching allocator (reuse, upload ordering,
 * emptyCache), the pipeline cache, command batching (one submit for many kernels), GPU-side error
 * reporting, dtype errors, and dispatches beyond 65535 workgroups.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import * as cn from '../src/index.js';
import type { WebgpuKernels } from '../src/backend/webgpu/index.js';
import { SWIFTSHADER_ICD, webgpuOrReason, webgpuRequired } from './helpers/webgpu.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const indexJs = join(root, 'dist', 'src', 'index.js');

/** A test that needs the webgpu backend (fails when CI requires it and it is missing). */
function gpuTest(name: string, fn: (k: WebgpuKernels) => Promise<void>): void {
  test(name, async (t) => {
    const k = await webgpuOrReason();
    if (typeof k === 'string') {
      if (webgpuRequired) assert.fail(`webgpu required (CONVNET_REQUIRE_WEBGPU=1) but unavailable: ${k}`);
      t.skip(k);
      return;
    }
    await fn(k);
  });
}

/** Runs an ES module snippet in a fresh Node process (`cn` is the package); returns stdout/stderr/status. */
function child(code: string, env: Record<string, string | undefined>): { out: string; err: string; status: number | null } {
  const script = `import * as cn from ${JSON.stringify(indexJs)};\n${code}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { out: r.stdout, err: r.stderr, status: r.status };
}

test('selection: setBackend("webgpu") before creation says to await useBackend, in one line', () => {
  const r = child(
    `try { cn.setBackend('webgpu'); console.log('no error'); } catch (e) { console.log(e.message); }
     try { cn.backendByName('webgpu'); } catch (e) { console.log(e.message); }`,
    {},
  );
  assert.equal(r.status, 0, r.err);
  const lines = r.out.trim().split('\n');
  assert.equal(lines.length, 2, r.out);
  for (const l of lines) assert.match(l, /created asynchronously: call `await useBackend\('webgpu'\)`/);
});

test('selection: CONVNET_BACKEND=webgpu needs await useBackend(); a bad name lists the valid ones', () => {
  const r = child(`try { cn.randn([2]); console.log('no error'); } catch (e) { console.log(e.message); }`, { CONVNET_BACKEND: 'webgpu' });
  assert.equal(r.status, 0, r.err);
  assert.match(r.out, /CONVNET_BACKEND=webgpu: .*call `await useBackend\(\)` once before creating tensors/);
  const bad = child(`try { cn.randn([2]); } catch (e) { console.log(e.message); }`, { CONVNET_BACKEND: 'gpu' });
  assert.match(bad.out, /CONVNET_BACKEND must be 'native', 'reference' or 'webgpu', got 'gpu'/);
});

test('selection: without an adapter, useBackend("webgpu") rejects with one line and the CPU backends keep working', { skip: process.platform !== 'linux' && 'blocks Vulkan only (other systems have Metal/D3D12)' }, () => {
  const r = child(
    `try { await cn.useBackend('webgpu'); console.log('selected'); } catch (e) { console.log('ERR ' + e.message); }
     await cn.useBackend('reference');
     console.log('sum ' + cn.tensor([1, 2, 3]).sum().item() + ' on ' + cn.getBackend().name);`,
    { VK_ICD_FILENAMES: '/nonexistent/icd.json', CONVNET_BACKEND: undefined },
  );
  assert.equal(r.status, 0, r.err);
  const lines = r.out.trim().split('\n');
  assert.equal(lines.length, 2, r.out);
  assert.match(lines[0]!, /^ERR WebGPU is unavailable: no WebGPU adapter \(.*VK_ICD_FILENAMES=\/usr\/lib\/chromium\/vk_swiftshader_icd\.json\)$/);
  assert.equal(lines[1], 'sum 6 on reference');
});

gpuTest('selection: CONVNET_BACKEND=webgpu with await useBackend() selects webgpu (child process)', async () => {
  const r = child(
    `const k = await cn.useBackend();
     const t = cn.tensor([1, 2, 3]).mul(2);
     console.log(k.name, Array.from(await t.data()).join(','));`,
    { CONVNET_BACKEND: 'webgpu', VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? SWIFTSHADER_ICD },
  );
  assert.equal(r.status, 0, r.err);
  assert.equal(r.out.trim(), 'webgpu 2,4,6');
});

gpuTest('synchronous read-back (item, toArray, tolist) throws one line pointing at data()/itemAsync(); those work', async () => {
  await cn.useBackend('webgpu');
  try {
    const t = cn.tensor([1.5, -2, 3]).relu();
    const sync = /the 'webgpu' backend reads tensors back asynchronously: use await t\.data\(\) \/ await t\.itemAsync\(\)/;
    assert.throws(() => t.toArray(), (e: Error) => sync.test(e.message) && !e.message.includes('\n'));
    assert.throws(() => t.sum().item(), sync);
    assert.throws(() => t.tolist(), sync);
    assert.deepEqual(Array.from(await t.data()), [1.5, 0, 3]);
    assert.equal(await t.sum().itemAsync(), 4.5);
    assert.equal(cn.getBackend().name, 'webgpu');
    const u = cn.withBackend('reference', () => cn.tensor([4, 5]));
    assert.equal(u.kernels.name, 'reference');
  } finally {
    await cn.useBackend('reference');
  }
});

gpuTest('device info: adapter description, software flag, shader-f16 availability', async (k) => {
  assert.ok(k.info.adapter.length > 0);
  assert.equal(typeof k.info.software, 'boolean');
  assert.equal(typeof k.info.shaderF16, 'boolean');
  if (/swiftshader/i.test(k.info.adapter)) assert.equal(k.info.software, true);
});

gpuTest('caching allocator: freed buffers are reused by size bucket, memoryCached/emptyCache', async (k) => {
  const pool = k.runtime.pool;
  const x = new Float32Array(1000).fill(1);
  const warm = k.fromHost(x, [1000], 'float32');
  k.dispose(warm);
  const created = pool.created;
  const m0 = k.memoryInUse();
  for (let i = 0; i < 20; i++) {
    const a = k.fromHost(x, [1000], 'float32');
    const b = k.unary('neg', a, [1000]);
    const c = k.scalar('mul', b, [1000], 2, false);
    assert.equal((await k.read(c, [1000]))[999], -2);
    for (const s of [a, b, c]) k.dispose(s);
  }
  assert.ok(pool.created - created <= 2, `the pool created ${pool.created - created} buffers for 20 identical iterations`);
  assert.ok(k.memoryInUse() <= m0 + 256, `memoryInUse grew from ${m0} to ${k.memoryInUse()}`);
  assert.ok(k.memoryCached() >= 3 * 4000, `memoryCached() = ${k.memoryCached()}`);
  k.emptyCache();
  assert.equal(k.runtime.pool.cached(), 0);
});

gpuTest('uploads never overwrite a freed buffer that queued kernels still read', async (k) => {
  // a is read by a kernel that is only encoded (not yet submitted) when a is disposed; the upload
  // of the same size right after must not land in a's buffer before that kernel runs.
  const x1 = Float32Array.from({ length: 4096 }, (_, i) => i);
  const x2 = new Float32Array(4096).fill(-7);
  const a = k.fromHost(x1, [4096], 'float32');
  await k.read(a, [4096]); // a is now on the device, in a submitted batch
  const b = k.unary('neg', a, [4096]);
  k.dispose(a);
  const c = k.fromHost(x2, [4096], 'float32');
  const hb = await k.read(b, [4096]);
  const hc = await k.read(c, [4096]);
  assert.equal(hb[4095], -4095);
  assert.equal(hb[1], -1);
  assert.equal(hc[0], -7);
  k.dispose(b);
  k.dispose(c);
});

gpuTest('pipeline cache: a kernel compiles once per shape; uniforms (scalars) do not recompile', async (k) => {
  const p = k.runtime.pipelines;
  const x = k.fromHost(new Float32Array(37), [37], 'float32');
  const y1 = k.scalar('add', x, [37], 0.5, false);
  const n1 = p.compiled;
  const y2 = k.scalar('add', x, [37], 0.25, false);
  const y3 = k.scalar('add', x, [37], -3, false);
  assert.equal(p.compiled, n1, 'a new scalar value recompiled the kernel');
  assert.deepEqual(Array.from(await k.read(y3, [37])).slice(0, 2), [-3, -3]);
  assert.equal((await k.read(y2, [37]))[0], 0.25);
  for (const s of [x, y1, y2, y3]) k.dispose(s);
});

gpuTest('command batching: 60 kernels and a read are one submit', async (k) => {
  const b = k.runtime.batch;
  k.flush();
  const s0 = b.submits;
  let t = k.fromHost(new Float32Array(64).fill(1), [64], 'float32');
  const all = [t];
  for (let i = 0; i < 60; i++) all.push((t = k.scalar('add', t, [64], 1, false)));
  assert.equal((await k.read(t, [64]))[0], 61);
  assert.equal(b.submits - s0, 1);
  for (const s of all) k.dispose(s);
});

gpuTest('errors: disposed storages, unsupported dtypes and invalid GPU work give clear messages', async (k) => {
  const a = k.fromHost(Float32Array.from([1, 2]), [2], 'float32');
  k.dispose(a);
  assert.throws(() => k.unary('exp', a, [2]), /this storage was disposed/);
  const i = k.fromHost(Int32Array.from([1, 2]), [2], 'int32');
  assert.throws(() => k.binary('div', i, [2], i, [2], [2]), /binary div has no int32 kernel/);
  assert.throws(() => k.unary('exp', i, [2]), /unary exp has no int32 kernel \(it has float32\)/);
  assert.throws(() => k.full([2], 'float64', 0), /dtype float64 is not supported/);
  // A shader that does not compile is reported (with the WGSL error) at the next read-back.
  k.runtime.run('// broken\n@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }', [], [1, 1, 1]);
  await assert.rejects(k.read(i, [2]), /GPU error: .*WGSL/);
  // ...once: the next read works.
  assert.deepEqual(Array.from(await k.read(i, [2])), [1, 2]);
  k.dispose(i);
});

gpuTest('dispatches beyond 65535 workgroups (a 2-D grid): 17M-element unary and reduce', async (k) => {
  const n = 65535 * 256 + 1000;
  const x = new Float32Array(n);
  x[0] = 1;
  x[n - 1] = -2;
  const s = k.fromHost(x, [n], 'float32');
  const y = k.unary('neg', s, [n]);
  const r = k.reduce('sum', y, [n], [0]);
  const h = await k.read(y, [n]);
  assert.equal(h[0], -1);
  assert.equal(h[n - 1], 2);
  assert.equal((await k.read(r, [1]))[0], 1);
  for (const t of [s, y, r]) k.dispose(t);
});

/** Runs a compiled script of the package with the webgpu-capable environment. */
function runScript(args: string[]): { out: string; err: string; status: number | null } {
  const r = spawnSync(process.execPath, args, {
    cwd: root,
    env: { ...process.env, VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? SWIFTSHADER_ICD, CONVNET_BACKEND: undefined },
    encoding: 'utf8',
    timeout: 300_000,
  });
  return { out: r.stdout, err: r.stderr, status: r.status };
}

gpuTest('convnet bench / train / eval on webgpu: bench prints one JSON line with the adapter; a run trains, checkpoints and evaluates', async () => {
  const cli = join(root, 'dist', 'src', 'cli', 'main.js');
  for (const flags of [['--backend', 'webgpu'], ['--device', 'gpu']]) {
    const r = runScript([cli, 'bench', 'bnlenet', ...flags, '--batch-size', '4', '--steps', '1', '--warmup', '0']);
    assert.equal(r.status, 0, r.err);
    const j = JSON.parse(r.out.trim()) as Record<string, unknown>;
    assert.equal(j.backend, 'webgpu');
    assert.equal(j.batch_size, 4);
    assert.ok(typeof j.adapter === 'string' && j.adapter.length > 0, r.out);
    assert.ok((j.images_per_s as number) > 0);
  }
  // A whole run on the GPU backend: checkpoints, weights and figures are read back asynchronously.
  const dir = mkdtempSync(join(tmpdir(), 'convnet-webgpu-run-'));
  try {
    const t = runScript([cli, 'train', 'bnlenet', '--device', 'gpu', '--epochs', '1', '--batch-size', '16', '--limit-train', '64', '--limit-val', '32', '--seed', '1', '--out', dir]);
    assert.equal(t.status, 0, t.err);
    for (const f of ['checkpoint.safetensors', 'model.safetensors', 'metrics.jsonl', 'filters.png', 'curves.png']) assert.ok(existsSync(join(dir, f)), f);
    const e = runScript([cli, 'eval', dir, '--device', 'gpu', '--limit', '32']);
    assert.equal(e.status, 0, e.err);
    assert.match(e.out, /accuracy/);
    const p = runScript([cli, 'train', 'bnlenet', '--device', 'gpu', '--nproc', '2', '--out', join(dir, 'x')]);
    assert.match(p.err.trim(), /^convnet: convnet train --nproc runs on the CPU backends \(native, reference\), not on webgpu$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const bad = runScript([cli, 'bench', 'bnlenet', '--device', 'tpu']);
  assert.match(bad.err, /--device must be cpu or gpu, got 'tpu'/);
});

gpuTest('bench/train.js --backend webgpu runs and names the adapter', async () => {
  const r = runScript([join(root, 'dist', 'bench', 'train.js'), '--backend', 'webgpu', '--models', 'bnlenet', '--batch-size', '4', '--steps', '1', '--min-seconds', '0', '--repeats', '1', '--no-torch']);
  assert.equal(r.status, 0, r.err);
  assert.match(r.out, /^WebGPU adapter: .+/m);
  assert.match(r.out, /\| bnlenet \| 28x28 \| [0-9.]+ \| n\/a \| n\/a \|/);
});
