// Builds the oneDNN addon (native/) with node-gyp. Skips the build when the addon is newer than
// every source file, so repeated set-up runs are fast. Exits non-zero with a clear message when
// oneDNN's headers are missing (install Debian's libdnnl-dev).
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

const sources = [join(native, 'binding.gyp'), ...readdirSync(join(native, 'src')).map((f) => join(native, 'src', f))];
if (existsSync(out) && !process.argv.includes('--force')) {
  const built = statSync(out).mtimeMs;
  if (sources.every((f) => statSync(f).mtimeMs <= built)) {
    console.log('build-native: addon is up to date');
    process.exit(0);
  }
}

const gyp = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const args = [gyp, existsSync(out) ? 'build' : 'rebuild', '--directory', native, `--jobs=${process.env.JOBS ?? 'max'}`];
if (existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
if (r.status !== 0) {
  console.error('build-native: node-gyp failed (see the compiler output above)');
  process.exit(r.status ?? 1);
}
