/**
 * The webgpu backend for tests. `CONVNET_REQUIRE_WEBGPU=1` (set by CI) turns "unavailable" into a
 * test failure; otherwise webgpu tests are skipped with the one-line reason.
 *
 * Without a GPU driver, Chromium's software Vulkan (SwiftShader) gives Dawn an adapter. When the
 * first attempt finds no adapter and VK_ICD_FILENAMES is unset, the helper points it at
 * SwiftShader's ICD and tries once more, so `npm test` exercises webgpu on this project's machines
 * without any set-up (a machine with a GPU keeps its GPU).
 */
import { existsSync } from 'node:fs';
import { initWebgpu, type WebgpuKernels } from '../../src/backend/webgpu/index.js';

/** Chromium's SwiftShader Vulkan driver manifest (Debian's chromium package). */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** True when CI demands the webgpu tests run (they fail instead of skipping). */
export const webgpuRequired = process.env.CONVNET_REQUIRE_WEBGPU === '1';

let attempt: Promise<WebgpuKernels | string> | null = null;

/** The webgpu backend, or the reason it is unavailable. */
export function webgpuOrReason(): Promise<WebgpuKernels | string> {
  attempt ??= (async () => {
    try {
      return await initWebgpu();
    } catch (e) {
      const msg = (e as Error).message;
      if (/no WebGPU adapter/.test(msg) && process.env.VK_ICD_FILENAMES === undefined && existsSync(SWIFTSHADER_ICD)) {
        process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
        try {
          return await initWebgpu();
        } catch (e2) {
          return (e2 as Error).message;
        }
      }
      return msg;
    }
  })();
  return attempt;
}
