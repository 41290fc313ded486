/**
 * Why the native addon is unavailable and the command that fixes it, and the one line printed on
 * first use when the library falls back to the TypeScript backend without being asked to.
 */
import { dirname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addon, addonError } from './addon.js';

/**
 * How much slower the TypeScript backend trains than the native one, and on what. Measured with
 * `convnet bench bnlenet --batch-size 128` on each backend (2-core x86-64, Node 20): native
 * ~18000 images/s (README's benchmark table), reference ~170 images/s.
 */
export const REFERENCE_SLOWDOWN = { factor: 100, on: 'bnlenet training, batch 128' } as const;

/** True when this copy of the package was installed by npm (not a source checkout). */
function installedByNpm(): boolean {
  return dirname(fileURLToPath(import.meta.url)).includes(`${sep}node_modules${sep}`);
}

/**
 * The command that makes the native backend available, for an unavailability `reason` (the
 * message of `addonError`): the oneDNN runtime library when the addon cannot load it, else a build
 * from source (oneDNN's headers and a compiler, then a rebuild).
 * @example nativeFix('libdnnl.so.2: cannot open shared object file', true) // 'sudo apt-get install libdnnl2'
 */
export function nativeFix(reason: string, installed = installedByNpm()): string {
  if (/libdnnl\.so[.\d]*: cannot open shared object file/.test(reason)) return 'sudo apt-get install libdnnl2';
  const rebuild = installed ? 'npm rebuild convnet --foreground-scripts' : 'npm run build:native';
  return `sudo apt-get install libdnnl-dev g++ make && ${rebuild}`;
}

/**
 * The line printed once, on first use, when the native addon is unavailable and no backend was
 * chosen: which backend runs, how much slower it is, why, and the fix.
 */
export function fallbackNotice(reason: string, installed = installedByNpm()): string {
  const { factor, on } = REFERENCE_SLOWDOWN;
  return `convnet: using the TypeScript backend, about ${factor}x slower than the native one (${on}): ${reason}; fix: ${nativeFix(reason, installed)} (CONVNET_BACKEND=reference silences this)`;
}

let noticed = false;

/** Prints `fallbackNotice` to stderr, once per process. */
export function noticeFallback(): void {
  if (noticed || addon !== null) return;
  noticed = true;
  process.stderr.write(`${fallbackNotice(addonError)}\n`);
}
