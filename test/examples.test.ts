/**
 * examples/custom-model.ts, the README's custom model + data + Trainer example, kept from rotting:
 * the README shows the file verbatim, it compiles with the rest (tsc), and it runs here on
 * Fashion-MNIST (it must learn: the loss falls below chance level) and on an image folder (its
 * class names come from the sub-folders). Its weights file has the keys and shapes the network
 * definition implies, worked out by hand below. (test/install.test.ts runs it from the installed
 * package.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { loadSafetensors } from '../src/io/safetensors.js';
import { loadFashionMnistSplit } from '../src/data/fashion-mnist-files.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const EXAMPLE = join(root, 'dist', 'examples', 'custom-model.js');
const work = mkdtempSync(join(tmpdir(), 'convnet-examples-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

function example(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [EXAMPLE, ...args], { cwd: work, timeout: 240_000, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

test('the README shows examples/custom-model.ts verbatim', () => {
  const source = readFileSync(join(root, 'examples', 'custom-model.ts'), 'utf8').trimEnd();
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  assert.ok(readme.includes('```ts\n' + source + '\n```'), 'README.md has the example in a ```ts block (copy examples/custom-model.ts into it)');
});

test('custom-model on Fashion-MNIST learns and writes the weights of its network', { timeout: 300_000 }, async () => {
  const out = join(work, 'fm.safetensors');
  const r = await example(['--epochs', '1', '--limit-batches', '20', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /; 10 classes: t-shirt, trouser, pullover, dress, coat, sandal, shirt, sneaker, bag, ankle boot$/m);
  // 160 + 32 + 4640 + 64 + 200832 + 1290 parameters (see below).
  assert.match(r.stdout, /^Total params: 207,018\t/m);
  const m = /^final: train loss (\d+\.\d+), val acc (\d+\.\d+)$/m.exec(r.stdout);
  assert.ok(m !== null, r.stdout);
  // Chance level: loss ln(10) = 2.303, accuracy 0.1. 20 SGD steps with batch norm get well past it.
  assert.ok(Number(m[1]) < 2.0, `train loss ${m[1]}`);
  assert.ok(Number(m[2]) > 0.3, `val acc ${m[2]}`);
  assert.equal(r.stdout.match(/^image \d: predicted \S.*, true \S/gm)?.length, 5);

  // Conv(1->16, 3x3) + BN(16) + ReLU + pool, Conv(16->32, 3x3) + BN(32) + ReLU + pool: 28 -> 14 -> 7,
  // Flatten 32*7*7 = 1568, Linear(1568->128), ReLU, Dropout, Linear(128->10); indices are net.<i>.
  const expected: Record<string, number[]> = {
    'net.0.weight': [16, 1, 3, 3],
    'net.0.bias': [16],
    'net.1.weight': [16],
    'net.1.bias': [16],
    'net.1.running_mean': [16],
    'net.1.running_var': [16],
    'net.1.num_batches_tracked': [],
    'net.4.weight': [32, 16, 3, 3],
    'net.4.bias': [32],
    'net.5.weight': [32],
    'net.5.bias': [32],
    'net.5.running_mean': [32],
    'net.5.running_var': [32],
    'net.5.num_batches_tracked': [],
    'net.9.weight': [128, 1568],
    'net.9.bias': [128],
    'net.12.weight': [10, 128],
    'net.12.bias': [10],
  };
  const saved = loadSafetensors(out).tensors;
  assert.deepEqual(Object.fromEntries(Object.entries(saved).map(([k, t]) => [k, [...t.shape]])), expected);
  // Training moved the batch-norm statistics away from their initial 0 / 1.
  assert.ok(Array.from(saved['net.1.running_mean']!.toArray()).some((v) => Math.abs(v) > 1e-3));
});

test('custom-model --data DIR trains on an image folder with its class names', { timeout: 300_000 }, async () => {
  // Two classes of Fashion-MNIST test images as 32x32 PNGs (the example resizes them to 28x28).
  const split = loadFashionMnistSplit('test');
  const folder = join(work, 'folder');
  for (const [name, label] of [['bags', 8], ['trousers', 1]] as const) {
    mkdirSync(join(folder, name), { recursive: true });
    for (let i = 0, n = 0; i < split.n && n < 15; i++) {
      if (split.labels[i] !== label) continue;
      await sharp(Buffer.from(split.images.subarray(i * 784, (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } })
        .resize(32, 32)
        .png()
        .toFile(join(folder, name, `${i}.png`));
      n++;
    }
  }
  const out = join(work, 'folder.safetensors');
  const r = await example(['--data', folder, '--epochs', '1', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /; 2 classes: bags, trousers$/m);
  assert.match(r.stdout, /^epoch +1 \| train loss/m);
  assert.deepEqual(loadSafetensors(out).tensors['net.12.weight']!.shape, [2, 128]);
});
