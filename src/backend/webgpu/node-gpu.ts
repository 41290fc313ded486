/**
 * Node only: the `GPU` object of Dawn's Node binding, the optional npm package `webgpu`. The
 * browser bundle replaces this module by `node-gpu.browser.ts` (package.json "browser" field), so no
 * bundler ever looks for the package.
 */
/// <reference types="@webgpu/types" />
import { WebgpuUnavailableError } from './errors.js';

/** The part of the `webgpu` package this backend uses. */
interface DawnModule {
  create(flags: string[]): GPU;
}

/** Dawn's `GPU` in Node; throws `WebgpuUnavailableError` (one line) when the package is missing. */
export async function nodeGpu(): Promise<GPU> {
  // A non-literal specifier: the package is optional, so TypeScript must not require its types and
  // installs without it must still load this module.
  const name = 'webgpu';
  let mod: DawnModule;
  try {
    mod = (await import(name)) as DawnModule;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'ERR_MODULE_NOT_FOUND'
        ? "the optional npm package 'webgpu' (Dawn for Node) is not installed (npm install webgpu@0.6.2)"
        : `the npm package 'webgpu' failed to load: ${err.message.split('\n')[0]}`;
    throw new WebgpuUnavailableError(why);
  }
  return mod.create([]);
}
