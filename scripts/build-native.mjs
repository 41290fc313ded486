// Builds the oneDNN addon (native/) with node-gyp, then the optional MPI addon (native/mpi/) when
// MPI's compiler wrapper and header are present. Skips a build when its addon is newer than every
// source file, so repeated set-up runs are fast. Exits non-zero with a clear message when oneDNN's
// headers are missing (install Debian's libdnnl-dev); without MPI it says so in one line and goes on
// (training then runs single-process).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const native = join(root, 'native');
const out = join(native, 'build', 'Release', 'convnet_native.node');

if (!existsSync('/usr/include/oneapi/dnnl/dnnl.hpp')) {
  console.error('build-native: oneDNN headers not found; install them with: apt-get install libdnnl-dev');
  process.exit(1);
}

const gyp = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');

/** Builds the addon in `dir` (binding.gyp + src/) into `out` unless it is up to date; returns false when node-gyp failed. */
function build(dir, out, label) {
  const sources = [join(dir, 'binding.gyp'), ...readdirSync(join(dir, 'src')).map((f) => join(dir, 'src', f))];
  if (existsSync(out) && !process.argv.includes('--force')) {
    const built = statSync(out).mtimeMs;
    if (sources.every((f) => statSync(f).mtimeMs <= built)) {
      console.log(`build-native: ${label} is up to date`);
      return true;
    }
  }
  const args = [gyp, existsSync(out) ? 'build' : 'rebuild', '--directory', dir, `--jobs=${process.env.JOBS ?? 'max'}`];
  if (existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  return r.status === 0;
}

if (!build(native, out, 'addon')) {
  console.error('build-native: node-gyp failed (see the compiler output above)');
  process.exit(1);
}

// The MPI addon (multi-process training) is optional: it needs Open MPI's mpicc/mpicxx and mpi.h.
const mpiDir = join(native, 'mpi');
const mpiOut = join(mpiDir, 'build', 'Release', 'convnet_mpi.node');
const which = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
const mpiHeader = () => {
  const r = spawnSync('mpicc', ['--showme:incdirs'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim().split(/\s+/).some((d) => existsSync(join(d, 'mpi.h')));
};
if (!which('mpicc') || !which('mpicxx') || !mpiHeader()) {
  console.log('build-native: MPI not found (apt-get install libopenmpi-dev openmpi-bin): skipping the MPI addon; training runs single-process');
} else if (!build(mpiDir, mpiOut, 'MPI addon')) {
  console.error('build-native: node-gyp failed on the MPI addon (see the compiler output above)');
  process.exit(1);
}
