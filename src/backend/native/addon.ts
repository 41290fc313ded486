/**
 * Loads the oneDNN addon (a local build in native/build/Release, else the prebuild shipped in
 * native/prebuilds/<platform>-<arch>/) and defines the native Storage.
 * When the addon is missing or fails to load, `addon` is null and `addonError` says why; the
 * backend selector then falls back to the reference backend.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DType, Storage } from '../kernels.js';

/** Opaque handle to a C++ Buf (an N-API External). */
export type Handle = { readonly __nativeHandle: unique symbol };

/** A storage owned by the native backend: a handle to a oneDNN-described buffer. */
export class NativeStorage implements Storage {
  readonly backend = 'native';
  private dt: DType | null = null;
  constructor(readonly h: Handle) {}

  /** The element type, read from the buffer's oneDNN descriptor on first use (kernels never need it). */
  get dtype(): DType {
    if (this.dt === null) this.dt = (addon as NativeAddon).dtypeOf(this.h) as DType;
    return this.dt;
  }
}

/** Wraps a raw handle returned by the addon. */
export function ns(h: unknown): NativeStorage {
  return new NativeStorage(h as Handle);
}

/** The handle of a native storage; throws if the storage belongs to another backend. */
export function hd(s: Storage | null): Handle {
  if (!(s instanceof NativeStorage)) {
    throw new Error(`native backend: got a storage of backend '${s?.backend}'`);
  }
  return s.h;
}

/** Raw addon exports. Each kernel family documents its own functions where it is adapted. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type NativeAddon = Record<string, (...args: any[]) => any>;

/** The package's `native` folder (binding.gyp, sources, prebuilds/, build/): beside package.json. */
function nativeDir(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'native'))) return join(dir, 'native');
    dir = dirname(dir);
  }
  return null;
}

let loaded: NativeAddon | null = null;
let error = '';
try {
  const dir = nativeDir();
  if (dir === null) {
    error = 'native addon not found (no native/ folder beside package.json)';
  } else {
    // node-gyp-build picks a local build (native/build/Release) first, else the prebuild for this
    // platform shipped in the package (native/prebuilds/<platform>-<arch>/), and throws if neither.
    const require = createRequire(import.meta.url);
    const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
    let path: string | null = null;
    try {
      path = nodeGypBuild.path(dir);
    } catch {
      error = `no native addon for ${process.platform}-${process.arch} (neither prebuilt nor built from source)`;
    }
    if (path !== null) loaded = require(path) as NativeAddon;
  }
} catch (e) {
  error = `native addon failed to load: ${(e as Error).message}`;
}

/** The loaded addon, or null when unavailable. */
export const addon: NativeAddon | null = loaded;
/** Why the addon is unavailable ('' when it loaded). */
export const addonError: string = error;
