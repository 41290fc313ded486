/**
 * The architecture, checked: imports flow one way through the layers (and no cycles), as
 * .dependency-cruiser.cjs states them; and Tensor methods never depend on import order: importing
 * any single module above the ops layer, alone in a fresh process, gives every Tensor method.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('imports follow the layers and form no cycle (dependency-cruiser)', () => {
  const cli = join(root, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
  const r = spawnSync(process.execPath, [cli, '--config', '.dependency-cruiser.cjs', '--output-type', 'err', 'src'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120000,
  });
  assert.equal(r.status, 0, `dependency violations:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /no dependency violations found/);
});

/** Compiled modules of a layer folder (dist/src/<folder>/**.js). */
function modules(folder: string): string[] {
  const dir = join(root, 'dist', 'src', folder);
  const walk = (d: string): string[] =>
    readdirSync(d).flatMap((f) => {
      const p = join(d, f);
      return statSync(p).isDirectory() ? walk(p) : p.endsWith('.js') ? [p] : [];
    });
  return walk(dir);
}

test('importing any public module alone gives every Tensor method (no import-order dependence)', () => {
  // The public modules: the package root and the layer entry points it re-exports, plus every module
  // of the layers that consume tensors built elsewhere (train, models, cli: the Trainer once worked
  // only when someone else had imported the ops first). Each is imported alone in a fresh worker.
  const methods = ['add', 'mul', 'relu', 'silu', 'sum', 'mean', 'argmax', 'reshape', 'permute', 'matmul', 'to', 'float', 'backward', 'indexSelect', 'clamp'];
  const entries = ['index.js', ...['ops', 'nn', 'optim', 'data', 'train', 'models', 'io', 'onnx', 'viz'].map((f) => `${f}/index.js`)].map((f) => join(root, 'dist', 'src', f));
  const consumers = ['train', 'models', 'cli']
    .flatMap(modules)
    .filter((f) => {
      const src = f.replace('/dist/src/', '/src/').replace(/\.js$/, '.ts');
      return !f.endsWith('/cli/main.js') && existsSync(src) && readFileSync(src, 'utf8').includes('Tensor');
    });
  const files = [...new Set([...entries, ...consumers])];
  assert.ok(files.length > 15, `found ${files.length} modules`);
  // One child process checks every module, each in a fresh worker (a fresh module graph).
  const script = `
    const { Worker } = require('node:worker_threads');
    const files = ${JSON.stringify(files)};
    const methods = ${JSON.stringify(methods)};
    const tensorUrl = ${JSON.stringify('file://' + join(root, 'dist', 'src', 'tensor', 'tensor.js'))};
    (async () => {
      const bad = [];
      for (const f of files) {
        const code = \`
          const { parentPort } = require('node:worker_threads');
          import(\${JSON.stringify('file://' + f)}).then(() => import(\${JSON.stringify(tensorUrl)})).then(({ Tensor }) => {
            parentPort.postMessage(\${JSON.stringify(methods)}.filter((m) => typeof Tensor.prototype[m] !== 'function'));
          }, (e) => parentPort.postMessage(['import failed: ' + e.message]));\`;
        const missing = await new Promise((res) => {
          const w = new Worker(code, { eval: true });
          w.once('message', (m) => { res(m); w.terminate(); });
          w.once('error', (e) => res(['worker error: ' + e.message]));
        });
        if (missing.length > 0) bad.push(f + ': ' + missing.join(', '));
      }
      console.log(JSON.stringify(bad));
    })();`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 300000 });
  assert.equal(r.status, 0, r.stderr);
  const bad = JSON.parse(r.stdout.trim().split('\n').pop()!) as string[];
  assert.deepEqual(bad.map((b) => relative(root, b)), []);
});
