// Builds the oneDNN addon (native/) with node-gyp into native/build/Release, then the optional MPI
// addon (native/mpi/, multi-process training) when Open MPI's compiler wrappers and mpi.h are there
// (without them: one line, and training runs single-process).
//
// In a checkout (`npm run build:native`, scripts/setup.sh): skips the build when the addon is newer
// than every source file, so repeated set-up runs are fast; exits non-zero with a clear message when
// oneDNN's headers are missing (install Debian's libdnnl-dev) or the compiler fails.
//
// With --install (the package's `install` script, run by `npm install` / `npm rebuild convnet`):
// the addon is optional. Nothing is built when an addon already loads (the prebuild shipped in
// native/prebuilds, or an earlier build); otherwise it is built from source when oneDNN's headers
// and a compiler are there; when they are not, or the build fails, one line says so and the install
// still succeeds (the TypeScript backend is used).
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const native = join(root, 'native');
const out = join(native, 'build', 'Release', 'convnet_native.node');
const install = process.argv.includes('--install');

/** In --install mode a problem is one line and exit 0; in a checkout it is an error. */
function fail(message, code = 1) {
  if (install) {
    console.warn(`convnet: ${message}; the TypeScript backend will be used (fix: sudo apt-get install libdnnl-dev g++ make && npm rebuild convnet --foreground-scripts)`);
    process.exit(0);
  }
  console.error(`build-native: ${message}`);
  process.exit(code);
}

function onPath(cmd) {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d !== '' && existsSync(join(d, cmd)));
}

if (install) {
  const require = createRequire(import.meta.url);
  try {
    require(require('node-gyp-build').path(native));
    process.exit(0); // the prebuild (or an earlier build) loads: nothing to build
  } catch {
    // no addon for this system, or it cannot load (no libdnnl.so.2): try a build from source
  }
  const missing = ['c++', 'make'].filter((c) => !onPath(c));
  if (!existsSync('/usr/include/oneapi/dnnl/dnnl.hpp')) missing.unshift("oneDNN's headers");
  if (missing.length > 0) fail(`no prebuilt native addon loads here and it cannot be built from source (missing: ${missing.join(', ')})`);
}

if (!existsSync('/usr/include/oneapi/dnnl/dnnl.hpp')) {
  fail('oneDNN headers not found; install them with: apt-get install libdnnl-dev');
}

/** Node-gyp: the project's (a checkout's devDependency), else the one npm runs install scripts with. */
const local = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const gyp = existsSync(local) ? local : process.env.npm_config_node_gyp;
if (gyp === undefined || !existsSync(gyp)) fail('node-gyp not found (run this through npm, e.g. npm rebuild convnet)');

/** True when node-gyp's generated makefiles in `dir`/build compile every .cc file of `dir`/src. */
function configured(dir) {
  const build = join(dir, 'build');
  if (!existsSync(build)) return false;
  const mk = readdirSync(build)
    .filter((f) => f.endsWith('.target.mk'))
    .map((f) => readFileSync(join(build, f), 'utf8'))
    .join('\n');
  return readdirSync(join(dir, 'src'))
    .filter((f) => f.endsWith('.cc'))
    .every((f) => mk.includes(`/src/${f.slice(0, -3)}.o`));
}

/** Builds the addon in `dir` into `target` unless it is newer than its sources; returns node-gyp's status. */
function build(dir, target, label) {
  const sources = [join(dir, 'binding.gyp'), ...readdirSync(join(dir, 'src')).map((f) => join(dir, 'src', f))];
  if (existsSync(target) && configured(dir) && !process.argv.includes('--force')) {
    const built = statSync(target).mtimeMs;
    if (sources.every((f) => statSync(f).mtimeMs <= built)) {
      console.log(`build-native: ${label} is up to date`);
      return 0;
    }
  }
  // An incremental build needs a configuration that lists every source file: binding.gyp reads the
  // src/ folder when node-gyp configures, so a file added since then needs a fresh configure.
  const args = [gyp, existsSync(target) && configured(dir) ? 'build' : 'rebuild', '--directory', dir, `--jobs=${process.env.JOBS ?? 'max'}`];
  if (existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
  return spawnSync(process.execPath, args, { stdio: 'inherit' }).status ?? 1;
}

const status = build(native, out, 'addon');
if (status !== 0) fail('node-gyp failed to build the native addon (see the compiler output above)', status);

// The MPI addon is optional: it needs Open MPI's mpicc/mpicxx and mpi.h.
const mpiDir = join(native, 'mpi');
const mpiOut = join(mpiDir, 'build', 'Release', 'convnet_mpi.node');
const mpiHeader = () => {
  const r = spawnSync('mpicc', ['--showme:incdirs'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim().split(/\s+/).some((d) => existsSync(join(d, 'mpi.h')));
};
if (!existsSync(mpiDir)) {
  // a package installed without the MPI sources
} else if (!onPath('mpicc') || !onPath('mpicxx') || !mpiHeader()) {
  console.log('build-native: MPI not found (apt-get install libopenmpi-dev openmpi-bin): skipping the MPI addon; training runs single-process');
} else if (build(mpiDir, mpiOut, 'MPI addon') !== 0) {
  const msg = 'node-gyp failed on the MPI addon (see the compiler output above)';
  if (install) console.warn(`convnet: ${msg}; training runs single-process`);
  else fail(msg);
}
