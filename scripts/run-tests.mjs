// Runs the compiled test files (dist/test/**/*.test.js) with node's test runner. Node 20 does not
// expand globs itself, so the files are listed here. A run that executes zero tests fails.
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'dist', 'test');
const filter = process.argv.slice(2);

function walk(d) {
  if (!existsSync(d)) return [];
  return readdirSync(d).flatMap((f) => {
    const p = join(d, f);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.js') ? [p] : [];
  });
}

const files = walk(dir)
  .filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error('run-tests: no test files found (did the TypeScript build run?)');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...files], {
  stdio: ['ignore', 'pipe', 'inherit'],
  encoding: 'utf8',
  maxBuffer: 256 * 1024 * 1024,
});
process.stdout.write(r.stdout ?? '');
const m = /ℹ tests (\d+)/.exec(r.stdout ?? '');
if (!m || Number(m[1]) === 0) {
  console.error('run-tests: zero tests were executed');
  process.exit(1);
}
process.exit(r.status ?? 1);
