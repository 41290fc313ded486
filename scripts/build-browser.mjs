// Bundles the browser entry (dist/src/browser.js, compiled by tsc) into one ESM file,
// dist/browser/convnet.js, with esbuild. Node-only modules the core touches are swapped for
// browser stand-ins that tsc compiled beside them, and the build FAILS if anything else in the
// graph imports a Node builtin or the optional `webgpu` package (the check that keeps them out):
//   backend/native/addon.js      -> addon.browser.js      (no Node addons in a page)
//   backend/native/status.js     -> status.browser.js     (no fallback notice on stderr)
//   backend/webgpu/node-gpu.js   -> node-gpu.browser.js   (navigator.gpu instead of Dawn)
//   node:events (train/trainer)  -> browser/events.js     (a small EventEmitter)
//   node:fs, from the modules below only (their /proc reads, all guarded) -> browser/node-fs.js (throws)
// It then builds the browser example (examples/browser): dist/examples/browser/ gets index.html,
// app.js (the page script, importing ./convnet.js) and a copy of the core bundle. The page also
// needs fashion-subset.bin there: node dist/examples/browser/make-data.js
// Usage: node scripts/build-browser.mjs [--outfile path] [--minify]
import { build } from 'esbuild';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist', 'src');
const args = process.argv.slice(2);
const outIdx = args.indexOf('--outfile');
const outfile = outIdx >= 0 ? resolve(args[outIdx + 1]) : join(root, 'dist', 'browser', 'convnet.js');
const entry = join(dist, 'browser.js');
if (!existsSync(entry)) {
  console.error('build-browser: dist/src/browser.js is missing: run `npx tsc -p tsconfig.json` first');
  process.exit(1);
}

/** Compiled module -> its browser stand-in (paths relative to dist/src). */
const swaps = {
  'backend/native/addon.js': 'backend/native/addon.browser.js',
  'backend/native/status.js': 'backend/native/status.browser.js',
  'backend/webgpu/node-gpu.js': 'backend/webgpu/node-gpu.browser.js',
};

/** Modules whose node:fs reads are /proc files in a try/catch with a fallback (paths relative to dist/src). */
const procReaders = new Set(['backend/index.js', 'train/memory.js', 'models/bench.js'].map((p) => join(dist, p)));

const browserPlugin = {
  name: 'convnet-browser',
  setup(b) {
    b.onResolve({ filter: /^node:events$|^events$/ }, () => ({ path: join(dist, 'browser', 'events.js') }));
    b.onResolve({ filter: /^node:fs$/ }, (a) => (procReaders.has(a.importer) ? { path: join(dist, 'browser', 'node-fs.js') } : undefined));
    b.onResolve({ filter: /^(node:|webgpu$)/ }, (a) => ({
      errors: [{ text: `'${a.path}' is Node-only and must not reach the browser bundle (imported by ${a.importer.replace(root + '/', '')})` }],
    }));
    b.onResolve({ filter: /\.js$/ }, (a) => {
      if (!a.path.startsWith('.')) return undefined;
      const abs = resolve(a.resolveDir, a.path);
      const rel = abs.startsWith(dist + '/') ? abs.slice(dist.length + 1) : null;
      if (rel !== null && swaps[rel] !== undefined) return { path: join(dist, swaps[rel]) };
      return undefined;
    });
  },
};

const t0 = performance.now();
const result = await build({
  entryPoints: [entry],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  outfile,
  sourcemap: true,
  minify: args.includes('--minify'),
  legalComments: 'none',
  plugins: [browserPlugin],
  logLevel: 'warning',
  metafile: true,
});
const inputs = Object.keys(result.metafile.inputs);
console.log(`build-browser: ${outfile.replace(root + '/', '')} (${(statSync(outfile).size / 1024).toFixed(0)} KiB, ${inputs.length} modules) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

// ---- the example page ----------------------------------------------------------------------
const exDir = join(root, 'dist', 'examples', 'browser');
const exEntry = join(exDir, 'main.js');
if (existsSync(exEntry)) {
  // The page imports the core from ./convnet.js (the bundle above) instead of inlining it.
  const external = {
    name: 'convnet-external',
    setup(b) {
      b.onResolve({ filter: /\/src\/browser\.js$/ }, () => ({ path: './convnet.js', external: true }));
      b.onResolve({ filter: /^node:/ }, (a) => ({ errors: [{ text: `'${a.path}' is Node-only (imported by ${a.importer})` }] }));
    },
  };
  await build({ entryPoints: [exEntry], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', outfile: join(exDir, 'app.js'), sourcemap: true, plugins: [external], logLevel: 'warning' });
  mkdirSync(exDir, { recursive: true });
  copyFileSync(join(root, 'examples', 'browser', 'index.html'), join(exDir, 'index.html'));
  copyFileSync(outfile, join(exDir, 'convnet.js'));
  copyFileSync(`${outfile}.map`, join(exDir, 'convnet.js.map'));
  const data = existsSync(join(exDir, 'fashion-subset.bin')) ? '' : ' (then: node dist/examples/browser/make-data.js)';
  console.log(`build-browser: example page in ${exDir.replace(root + '/', '')}/${data}`);
}
