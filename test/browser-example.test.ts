/**
 * The browser example (examples/browser) in headless Chromium: the ESM bundle of the core is built
 * (scripts/build-browser.mjs, which fails if a Node-only module reaches it), a Fashion-MNIST subset
 * is written, and the page trains BN-LeNet
 * - once with WebGPU (`--enable-unsafe-webgpu`: Chromium's SwiftShader adapter without a GPU), and
 * - once without it (no adapter: the page falls back to the reference backend and says why).
 * Each time: it trains to the end without errors, the curves are redrawn while it trains (the
 * canvas changes between two looks), and the held-out accuracy is above chance. Both runs start
 * from the same seed, so their losses agree to float32 tolerance.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../examples/browser/serve.js';
import { writeSubset } from '../examples/browser/make-data.js';
import { webgpuRequired } from './helpers/webgpu.js';

const CHROMIUM = '/usr/bin/chromium';
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const pageDir = join(root, 'dist', 'examples', 'browser');

interface PageState {
  backend: string;
  adapter: string;
  note: string;
  step: number;
  steps: number;
  losses: [number, number][];
  accuracies: [number, number][];
  finalAccuracy: number;
  redraws: number;
  done: boolean;
  error: string | null;
}

/** Builds the bundle and the page, and writes a small data subset beside it. */
function buildPage(): void {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'build-browser.mjs')], { encoding: 'utf8' });
  assert.equal(r.status, 0, `build-browser failed: ${r.stderr}${r.stdout}`);
  writeSubset(join(pageDir, 'fashion-subset.bin'), 2000, 500);
}

let built = false;

/** Runs the page to the end in Chromium with `args`; returns its final state and two mid-run canvas snapshots. */
async function runPage(args: string[], query: string): Promise<{ state: PageState; snapshots: string[]; consoleErrors: string[] }> {
  if (!built) {
    buildPage();
    built = true;
  }
  const { chromium } = await import('playwright-core');
  const { server, url } = await serve(pageDir);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', ...args], timeout: 30000 });
  try {
    const page = await browser.newPage();
    const consoleErrors: string[] = [];
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    await page.goto(`${url}?${query}`);
    const state = (): Promise<PageState> => page.evaluate(() => (window as unknown as { __convnet: PageState }).__convnet);
    const snap = (): Promise<string> => page.evaluate(() => (document.getElementById('loss') as HTMLCanvasElement).toDataURL());
    const snapshots: string[] = [];
    const deadline = Date.now() + 10 * 60_000;
    for (;;) {
      const s = await state();
      if (s.error !== null || s.done) break;
      // Two looks at the curve while training runs (after the 2nd and the 6th loss read-back).
      if ((snapshots.length === 0 && s.losses.length >= 2) || (snapshots.length === 1 && s.losses.length >= 6 && !s.done)) snapshots.push(await snap());
      if (Date.now() > deadline) assert.fail(`the page did not finish in 10 minutes (step ${s.step}/${s.steps})`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return { state: await state(), snapshots, consoleErrors };
  } finally {
    await browser.close();
    server.close();
  }
}

function checkRun(label: string, r: { state: PageState; snapshots: string[]; consoleErrors: string[] }): void {
  const s = r.state;
  assert.equal(s.error, null, `${label}: the page failed: ${s.error}`);
  assert.deepEqual(r.consoleErrors, [], `${label}: page errors`);
  assert.ok(s.done && s.step === s.steps, `${label}: stopped at step ${s.step}/${s.steps}`);
  assert.equal(s.losses.length, s.steps / 5, `${label}: ${s.losses.length} losses read back`);
  assert.equal(r.snapshots.length, 2, `${label}: could not look at the curves twice during training`);
  assert.notEqual(r.snapshots[0], r.snapshots[1], `${label}: the loss curve did not change while training`);
  assert.ok(s.redraws >= s.losses.length + s.accuracies.length, `${label}: ${s.redraws} redraws`);
  const first = s.losses[0]![1];
  const last = s.losses.slice(-3).reduce((a, l) => a + l[1], 0) / 3;
  assert.ok(last < first * 0.85, `${label}: the loss did not fall (${first} -> ${last})`);
  assert.ok(s.finalAccuracy > 0.3, `${label}: held-out accuracy ${s.finalAccuracy} is not above chance (0.1)`);
}

const QUERY = 'steps=60&batch=16&logEvery=5&evalEvery=30';
let webgpuRun: PageState | null = null;

test('browser example: trains BN-LeNet on WebGPU (SwiftShader in headless Chromium) with live curves', { timeout: 15 * 60_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CONVNET_REQUIRE_CHROMIUM === '1') assert.fail(`${CHROMIUM} is not installed`);
    t.skip(`${CHROMIUM} is not installed`);
    return;
  }
  const r = await runPage(['--enable-unsafe-webgpu'], QUERY);
  if (r.state.backend !== 'webgpu') {
    const why = `Chromium gave no WebGPU adapter: ${r.state.note || r.state.error}`;
    if (webgpuRequired) assert.fail(why);
    t.skip(why);
    return;
  }
  assert.match(r.state.adapter, /\S/, 'the page names the adapter');
  checkRun('webgpu', r);
  webgpuRun = r.state;
});

test('browser example: without WebGPU the page says why and trains on the reference backend', { timeout: 15 * 60_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CONVNET_REQUIRE_CHROMIUM === '1') assert.fail(`${CHROMIUM} is not installed`);
    t.skip(`${CHROMIUM} is not installed`);
    return;
  }
  const r = await runPage([], QUERY);
  assert.equal(r.state.backend, 'reference');
  assert.match(r.state.note, /^WebGPU is unavailable: /);
  checkRun('reference', r);
  if (webgpuRun !== null) {
    r.state.losses.forEach(([step, v], i) => {
      const g = webgpuRun!.losses[i]![1];
      assert.ok(Math.abs(g - v) <= 1e-4 * Math.max(1, Math.abs(v)), `loss at step ${step}: ${g} on WebGPU, ${v} on the reference backend`);
    });
    assert.ok(Math.abs(webgpuRun.finalAccuracy - r.state.finalAccuracy) <= 0.01, `accuracy ${webgpuRun.finalAccuracy} on WebGPU, ${r.state.finalAccuracy} on the reference backend`);
  }
});
