/**
 * The npm package as a user gets it: `npm pack` (with its `prepack`: TypeScript and the prebuilt
 * addon), publint on the tarball, then `npm install ./convnet-<version>.tgz` into an empty folder
 * with no compiler on PATH, and the README's custom-model example (examples/custom-model.ts, which
 * imports 'convnet') trained for a few steps from that folder: it must run on the NATIVE backend,
 * i.e. on the prebuild, since nothing can be compiled there. Then the prebuild is made unable to
 * find its oneDNN library (as on a machine without libdnnl2): the package must fall back to the
 * TypeScript backend with one line on stderr naming the fix.
 *
 * The package is packed from a copy of the checkout, so that `prepack` rewriting dist/ cannot race
 * with the other test files running from it. npm's registry must be reachable (the dependencies
 * are installed from it, or from npm's cache). Nothing here is skipped: a machine where this
 * cannot be done fails the test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { REFERENCE_SLOWDOWN, fallbackNotice, nativeFix } from '../src/backend/native/status.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const work = mkdtempSync(join(tmpdir(), 'convnet-install-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The environment without npm's per-script variables (npm_config_local_prefix would point npm back at the checkout). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.toLowerCase().startsWith('npm_')) env[k] = v;
  return { ...env, ...extra };
}

function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function ok(r: Run, what: string): Run {
  assert.equal(r.status, 0, `${what} failed (${r.status}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return r;
}

/** Compilers and build tools a source build of the addon would need. */
const BUILD_TOOLS = /^(.*-)?(gcc|g\+\+|cc|c\+\+|cpp|clang|clang\+\+|c89|c99|make|gmake|ld|ld\..*|as)(-[\d.]+)?$/;

/** A folder of links to every program on PATH except the compilers and make: PATH without a toolchain. */
function pathWithoutCompilers(): string {
  const bin = join(work, 'bin');
  mkdirSync(bin);
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (BUILD_TOOLS.test(name) || existsSync(join(bin, name))) continue;
      try {
        if (statSync(join(dir, name)).isFile()) symlinkSync(join(dir, name), join(bin, name));
      } catch {
        // a dangling link on PATH: leave it out
      }
    }
  }
  // The node running this test (it may not be the first node on PATH).
  rmSync(join(bin, 'node'), { force: true });
  symlinkSync(process.execPath, join(bin, 'node'));
  return bin;
}

/** Copies the files `npm pack` packs plus what `prepack` builds from, keeping modification times (the prebuild stays up to date). */
function stageCheckout(): string {
  const stage = join(work, 'stage');
  mkdirSync(join(stage, 'native'), { recursive: true });
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'README.md', 'LICENSE', 'src', 'scripts', 'native/binding.gyp', 'native/src', 'native/prebuilds']) {
    if (existsSync(join(root, f))) cpSync(join(root, f), join(stage, f), { recursive: true, preserveTimestamps: true });
  }
  symlinkSync(join(root, 'node_modules'), join(stage, 'node_modules'));
  return stage;
}

test('npm pack, then npm install of the tarball without a compiler, trains on the native backend', { timeout: 600_000 }, async () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const tarball = join(work, `convnet-${pkg.version}.tgz`);

  // ---- npm pack (prepack: tsc + the prebuild) ----
  const stage = stageCheckout();
  ok(await run('npm', ['pack', '--pack-destination', work, '--loglevel=error'], { cwd: stage, env: cleanEnv(), timeoutMs: 480_000 }), 'npm pack');
  assert.ok(existsSync(tarball), `npm pack wrote ${readdirSync(work).join(', ')}`);

  // ---- what is in it ----
  const listing = ok(await run('tar', ['-tzf', tarball], { cwd: work, env: cleanEnv(), timeoutMs: 60_000 }), 'tar -t').stdout.trim().split('\n');
  const files = listing.map((f) => f.replace(/^package\//, ''));
  for (const f of ['package.json', 'README.md', 'LICENSE', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js', 'native/binding.gyp', 'native/src/addon.cc', 'scripts/build-native.mjs']) {
    assert.ok(files.includes(f), `the tarball has ${f}`);
  }
  assert.ok(files.includes(`native/prebuilds/${process.platform}-${process.arch}/convnet.glibc.node`), `the tarball has the prebuild: ${files.filter((f) => f.includes('prebuilds')).join(', ')}`);
  for (const f of files) {
    assert.doesNotMatch(f, /^(test|bench|examples|dist\/(test|bench|examples)|native\/build|node_modules|runs)\//, `${f} does not belong in the package`);
  }

  // ---- publint, strict, on the very tarball ----
  const buf = readFileSync(tarball);
  const lint = await publint({ pack: { tarball: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) }, strict: true, level: 'suggestion' });
  assert.deepEqual(lint.messages.map((m) => formatMessage(m, lint.pkg) ?? m.code), [], 'publint is clean');

  // ---- npm install into an empty folder, no compiler on PATH ----
  const bin = pathWithoutCompilers();
  const noCompilers = cleanEnv({ PATH: bin });
  const probe = await run('sh', ['-c', 'command -v gcc g++ cc c++ make || true'], { cwd: work, env: noCompilers, timeoutMs: 10_000 });
  assert.equal(probe.stdout.trim(), '', 'no compiler or make on the PATH used for the install');
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  ok(await run('npm', ['install', tarball, '--no-audit', '--no-fund', '--loglevel=error'], { cwd: app, env: noCompilers, timeoutMs: 300_000 }), 'npm install');
  const installed = join(app, 'node_modules', 'convnet');
  assert.ok(existsSync(join(installed, 'native', 'prebuilds')), 'the prebuild is installed');
  assert.ok(!existsSync(join(installed, 'native', 'build')), 'nothing was compiled at install');

  // ---- the README's example, from the installed package ----
  copyFileSync(join(root, 'dist', 'examples', 'custom-model.js'), join(app, 'custom-model.js'));
  const resolved = ok(await run('node', ['--input-type=module', '-e', "console.log(import.meta.resolve('convnet'))"], { cwd: app, env: noCompilers, timeoutMs: 30_000 }), 'resolve');
  assert.equal(fileURLToPath(resolved.stdout.trim()), join(installed, 'dist', 'src', 'index.js'));
  const weights = join(app, 'small-vgg.safetensors');
  const ex = ok(
    await run('node', ['custom-model.js', '--epochs', '1', '--limit-batches', '3', '--out', weights], { cwd: app, env: noCompilers, timeoutMs: 240_000 }),
    'the example from the installed package',
  );
  assert.match(ex.stdout, /^backend native; 10 classes: t-shirt, trouser/m);
  assert.match(ex.stdout, /^epoch +1 \| train loss \d+\.\d+ \| val loss \d+\.\d+ \| val acc/m);
  assert.ok(statSync(weights).size > 207_018 * 4, 'the weights were written');
  assert.equal(ex.stderr, '', 'no warning on the native backend');

  // The bin: `npx convnet --version` inside the app.
  const v = ok(await run(join(app, 'node_modules', '.bin', 'convnet'), ['--version'], { cwd: app, env: noCompilers, timeoutMs: 30_000 }), 'convnet --version');
  assert.equal(v.stdout.trim(), pkg.version);

  // ---- without oneDNN's runtime library: the prebuild cannot load, one line says what to do ----
  // The prebuild's dependency on libdnnl.so.2 is renamed to a library no system has, so loading it
  // fails exactly as it does on a machine without Debian's libdnnl2.
  const prebuild = join(installed, 'native', 'prebuilds', `${process.platform}-${process.arch}`, 'convnet.glibc.node');
  const bytes = readFileSync(prebuild);
  const at = bytes.indexOf('libdnnl.so.2\0');
  assert.ok(at > 0, 'the prebuild links libdnnl.so.2');
  bytes.write('libdnnl.so.9', at, 'latin1');
  writeFileSync(prebuild, bytes);
  const fallback = ok(
    await run('node', ['--input-type=module', '-e', "import * as cn from 'convnet'; console.log(cn.nativeAvailable(), cn.ones([2]).add(1).toArray().join(','), cn.getBackend().name)"], {
      cwd: app,
      env: noCompilers,
      timeoutMs: 60_000,
    }),
    'the package without its native library',
  );
  assert.equal(fallback.stdout.trim(), 'false 2,2 reference');
  const lines = fallback.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${fallback.stderr}`);
  assert.match(lines[0]!, /^convnet: using the TypeScript backend, about \d+x slower than the native one \(bnlenet training, batch 128\): /);
  assert.match(lines[0]!, /libdnnl\.so\.9: cannot open shared object file/);
  assert.match(lines[0]!, /fix: sudo apt-get install libdnnl2/);
  // Choosing the TypeScript backend explicitly is not a fallback: no notice.
  const chosen = ok(
    await run('node', ['--input-type=module', '-e', "import * as cn from 'convnet'; console.log(cn.ones([2]).sum().item())"], {
      cwd: app,
      env: { ...noCompilers, CONVNET_BACKEND: 'reference' },
      timeoutMs: 60_000,
    }),
    'CONVNET_BACKEND=reference',
  );
  assert.equal(chosen.stdout.trim(), '2');
  assert.equal(chosen.stderr, '');
});

test('the fallback notice names the slowdown, the reason and the fix for each way the addon can be missing', () => {
  // Node's message when the prebuild is there but Debian's libdnnl2 is not.
  const noLib = 'native addon failed to load: libdnnl.so.2: cannot open shared object file: No such file or directory';
  assert.equal(nativeFix(noLib, true), 'sudo apt-get install libdnnl2');
  assert.equal(nativeFix(noLib, false), 'sudo apt-get install libdnnl2');
  // No prebuild for this platform and no local build: build from source, the npm way or the checkout's way.
  const none = 'no native addon for linux-arm64 (neither prebuilt nor built from source)';
  assert.equal(nativeFix(none, true), 'sudo apt-get install libdnnl-dev g++ make && npm rebuild convnet --foreground-scripts');
  assert.equal(nativeFix(none, false), 'sudo apt-get install libdnnl-dev g++ make && npm run build:native');
  // Any other load failure (an addon built for another glibc, say) is fixed by a build from source too.
  assert.match(nativeFix("native addon failed to load: /lib/libc.so.6: version `GLIBC_2.38' not found", true), /libdnnl-dev g\+\+ make && npm rebuild convnet/);
  const line = fallbackNotice(noLib, true);
  assert.ok(!line.includes('\n'), 'one line');
  assert.equal(
    line,
    `convnet: using the TypeScript backend, about ${REFERENCE_SLOWDOWN.factor}x slower than the native one (${REFERENCE_SLOWDOWN.on}): ${noLib}; fix: sudo apt-get install libdnnl2 (CONVNET_BACKEND=reference silences this)`,
  );
});
