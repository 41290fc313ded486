/**
 * What the suite needs from the machine. Locally, a missing native addon, PyTorch (for side-by-side
 * checks), Chromium (browser tests) or a WebGPU adapter (webgpu tests; SwiftShader without a GPU)
 * makes the tests that need them skip, with the reason. CI sets CONVNET_REQUIRE_NATIVE=1,
 * CONVNET_REQUIRE_TORCH=1, CONVNET_REQUIRE_CHROMIUM=1 and CONVNET_REQUIRE_WEBGPU=1 (.ci/run): there
 * the absence fails here, so a broken set-up can never pass as a run of skips.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { nativeAvailable } from '../src/backend/index.js';
import { addonError } from '../src/backend/native/addon.js';
import { webgpuOrReason } from './helpers/webgpu.js';

const required = (v: string): boolean => process.env[v] === '1';

test('the native addon loads (required when CONVNET_REQUIRE_NATIVE=1)', (t) => {
  if (nativeAvailable()) return;
  if (!required('CONVNET_REQUIRE_NATIVE')) return t.skip(`native addon unavailable: ${addonError}`);
  assert.fail(`native addon unavailable: ${addonError}`);
});

test('PyTorch is importable by /usr/bin/python3 (required when CONVNET_REQUIRE_TORCH=1)', (t) => {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
  if (r.status === 0) return;
  const why = `/usr/bin/python3 -c "import torch" failed: ${(r.stderr ?? r.error?.message ?? '').trim().split('\n').pop()}`;
  if (!required('CONVNET_REQUIRE_TORCH')) return t.skip(why);
  assert.fail(why);
});

test('Chromium is installed (required when CONVNET_REQUIRE_CHROMIUM=1)', (t) => {
  if (existsSync('/usr/bin/chromium')) return;
  if (!required('CONVNET_REQUIRE_CHROMIUM')) return t.skip('/usr/bin/chromium is not installed');
  assert.fail('/usr/bin/chromium is not installed');
});

test('a WebGPU adapter is available (required when CONVNET_REQUIRE_WEBGPU=1)', async (t) => {
  const k = await webgpuOrReason();
  if (typeof k !== 'string') return;
  if (!required('CONVNET_REQUIRE_WEBGPU')) return t.skip(k);
  assert.fail(k);
});
