/**
 * Browser stand-in for status.ts (the browser bundle maps the import here): there is no native
 * backend to fall back from in a page, so no notice is printed; the helpers keep their signatures.
 */
import { addonError } from './addon.browser.js';

/** As in status.ts (the figure only matters where the native backend exists). */
export const REFERENCE_SLOWDOWN = { factor: 100, on: 'bnlenet training, batch 128' } as const;

/** In a browser the fix is to use the webgpu or reference backend. */
export function nativeFix(_reason: string, _installed = false): string {
  return 'use the webgpu or reference backend (the native one runs in Node)';
}

/** The notice text (never printed in a browser). */
export function fallbackNotice(reason: string, _installed = false): string {
  return `convnet: using the TypeScript backend: ${reason}`;
}

/** No-op in a browser: choosing the reference backend there is expected, not a degradation. */
export function noticeFallback(): void {
  void addonError;
}
