/**
 * Loads the oneDNN addon (native/build/Release/convnet_native.node) and defines the native Storage.
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

function findAddon(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'native', 'build', 'Release', 'convnet_native.node');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return null;
}

let loaded: NativeAddon | null = null;
let error = '';
try {
  const path = findAddon();
  if (path === null) {
    error = 'native addon not built (run: npm run build:native)';
  } else {
    loaded = createRequire(import.meta.url)(path) as NativeAddon;
  }
} catch (e) {
  error = `native addon failed to load: ${(e as Error).message}`;
}

/** The loaded addon, or null when unavailable. */
export const addon: NativeAddon | null = loaded;
/** Why the addon is unavailable ('' when it loaded). */
export const addonError: string = error;
