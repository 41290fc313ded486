// Builds the prebuilt addon that ships in the npm package:
//   native/prebuilds/<platform>-<arch>/convnet.glibc.node
// with prebuildify (N-API, so one build serves every Node >= 20; stripped; tagged glibc so a musl
// system falls back instead of failing to load it), linked against the system's libdnnl.so.2
// (Debian's libdnnl2). node-gyp-build (src/backend/native/addon.ts) loads it when there is no local
// build in native/build/Release. The build runs in a temporary copy of native/ so that the
// developer's incremental build in native/build stays as it is. Skipped when the prebuild is newer
// than binding.gyp and every source file (--force rebuilds).
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const native = join(root, 'native');
const tuple = `${process.platform}-${process.arch}`;
const out = join(native, 'prebuilds', tuple, 'convnet.glibc.node');

const sources = [join(native, 'binding.gyp'), ...readdirSync(join(native, 'src')).map((f) => join(native, 'src', f))];
if (existsSync(out) && !process.argv.includes('--force')) {
  const built = statSync(out).mtimeMs;
  if (sources.every((f) => statSync(f).mtimeMs <= built)) {
    console.error(`prebuild: ${out.slice(root.length + 1)} is up to date`);
    process.exit(0);
  }
}
if (!existsSync('/usr/include/oneapi/dnnl/dnnl.hpp')) {
  console.error('prebuild: oneDNN headers not found; install them with: apt-get install libdnnl-dev');
  process.exit(1);
}

const work = mkdtempSync(join(tmpdir(), 'convnet-prebuild-'));
try {
  cpSync(join(native, 'binding.gyp'), join(work, 'binding.gyp'));
  cpSync(join(native, 'src'), join(work, 'src'), { recursive: true });
  rmSync(join(native, 'prebuilds', tuple), { recursive: true, force: true });
  const env = {
    ...process.env,
    // binding.gyp asks node for node-addon-api's include folder from the build folder.
    NODE_PATH: join(root, 'node_modules'),
    npm_config_jobs: process.env.JOBS ?? 'max',
  };
  // Build against the installed Node headers (no download), as scripts/build-native.mjs does.
  if (existsSync('/usr/include/node/node_api.h')) env.npm_config_nodedir = '/usr';
  const args = [
    join(root, 'node_modules', 'prebuildify', 'bin.js'),
    '--napi',
    '--strip',
    '--tag-libc',
    '--name=convnet',
    `--node-gyp=${join(root, 'node_modules', '.bin', 'node-gyp')}`,
    `--cwd=${work}`,
    `--out=${native}`,
  ];
  // The compiler's output goes to stderr, so that `npm pack --json` prints JSON only.
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 2, 2], env });
  if (r.status !== 0 || !existsSync(out)) {
    console.error(`prebuild: prebuildify failed (see the output above); expected ${out}`);
    process.exitCode = r.status || 1; // not process.exit(): the temporary copy is removed below
  } else {
    console.error(`prebuild: ${out.slice(root.length + 1)} (${(statSync(out).size / 1e6).toFixed(1)} MB)`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
