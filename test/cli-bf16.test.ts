/**
 * `convnet train --precision bf16-mixed` end to end on the native backend: the precision is recorded,
 * a run stopped after epoch 1 and resumed ends with the same weights, byte for byte, as the run that
 * never stopped, and the run really trained in bfloat16 (its losses differ from fp32's in the low
 * digits and agree in the high ones). CONVNET_BF16=force runs the bf16 numerics on CPUs without
 * native bf16 (float32 kernels on bf16 data, rounded once, as oneDNN's bf16 kernels round), so this
 * runs on every CPU CI may have.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cn from '../src/index.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { convnet, ok } from './helpers/cli.js';

const work = mkdtempSync(join(tmpdir(), 'convnet-bf16-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));


const metrics = (dir: string): Record<string, number>[] =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);

/** CONVNET_BF16=force: the bf16 numerics on every CPU (see the file comment). */
const BF16 = { env: { ...process.env, CONVNET_BF16: 'force' }, timeoutMs: 180_000 };

const COMMON = ['--limit-train', '768', '--limit-val', '256', '--batch-size', '64', '--seed', '3', '--backend', 'native'];

test('bf16-mixed: recorded, resumed exactly, and really bf16', async (t) => {
  if (!cn.nativeAvailable()) {
    if (process.env.CONVNET_REQUIRE_NATIVE === '1') assert.fail('the native addon is required (CONVNET_REQUIRE_NATIVE=1) but does not load');
    return t.skip('native addon unavailable');
  }
  const straight = join(work, 'straight');
  const stopped = join(work, 'stopped');
  const fp32 = join(work, 'fp32');
  const [a, b, c] = await Promise.all([
    convnet(['train', 'bnlenet', '--epochs', '2', '--precision', 'bf16-mixed', '--out', straight, ...COMMON], BF16),
    convnet(['train', 'bnlenet', '--epochs', '1', '--precision', 'bf16-mixed', '--out', stopped, ...COMMON], BF16),
    convnet(['train', 'bnlenet', '--epochs', '2', '--out', fp32, ...COMMON], BF16),
  ]);
  ok(a, 'bf16 run');
  ok(b, 'bf16 epoch 1');
  ok(c, 'fp32 run');
  assert.doesNotMatch(a.stderr, /not available/, 'CONVNET_BF16=force: no fallback to fp32');
  const run = loadCheckpoint(join(stopped, 'checkpoint.safetensors')).state.extra.run as Record<string, unknown>;
  assert.equal(run.precision, 'bf16-mixed', 'the checkpoint records the precision');

  // A resume may not change the precision silently.
  const changed = await convnet(['train', 'bnlenet', '--epochs', '2', '--precision', 'fp32', '--out', stopped, '--resume'], BF16);
  assert.notEqual(changed.status, 0);
  assert.match(changed.stderr, /--precision/);

  ok(await convnet(['train', 'bnlenet', '--epochs', '2', '--out', stopped, '--resume'], BF16), 'resume');
  assert.ok(readFileSync(join(stopped, 'model.safetensors')).equals(readFileSync(join(straight, 'model.safetensors'))), 'resumed weights equal the straight run byte for byte');
  assert.deepEqual(metrics(stopped).map((m) => m.train_loss), metrics(straight).map((m) => m.train_loss));

  // bf16 rounding shows in the losses (so the run did not fall back to fp32), by little.
  const lb = metrics(straight);
  const lf = metrics(fp32);
  assert.notEqual(lb[0]!.train_loss, lf[0]!.train_loss, 'bf16-mixed and fp32 gave identical losses: bf16 did not run');
  for (let e = 0; e < 2; e++) {
    const rel = Math.abs(lb[e]!.train_loss! - lf[e]!.train_loss!) / lf[e]!.train_loss!;
    assert.ok(rel < 0.05, `epoch ${e + 1}: bf16 train loss ${lb[e]!.train_loss} vs fp32 ${lf[e]!.train_loss}`);
  }
});

