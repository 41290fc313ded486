/**
 * Browser stand-in for addon.ts (the browser bundle maps the import here; see
 * scripts/build-browser.mjs): a page cannot load a Node addon, so `addon` is null and the backend
 * selector uses the reference or webgpu backend. The storage helpers repeat addon.ts's (they are
 * tiny) so the native kernel adapters still compile into the bundle, unused.
 */
import type { DType, Storage } from '../kernels.js';

/** Opaque handle to a C++ Buf (an N-API External). */
export type Handle = { readonly __nativeHandle: unique symbol };

/** A storage owned by the native backend (never created in a browser). */
export class NativeStorage implements Storage {
  readonly backend = 'native';
  constructor(readonly h: Handle) {}

  /** Never reached: no native storage exists in a browser. */
  get dtype(): DType {
    throw new Error(addonError);
  }
}

/** Wraps a raw handle returned by the addon. */
export function ns(h: unknown): NativeStorage {
  return new NativeStorage(h as Handle);
}

/** The handle of a native storage; throws if the storage belongs to another backend. */
export function hd(s: Storage | null): Handle {
  if (!(s instanceof NativeStorage)) throw new Error(`native backend: got a storage of backend '${s?.backend}'`);
  return s.h;
}

/** Raw addon exports. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type NativeAddon = Record<string, (...args: any[]) => any>;

/** Always null in a browser. */
export const addon: NativeAddon | null = null;
/** Why there is no native backend here. */
export const addonError = 'the native backend is a Node addon and does not run in a browser (use webgpu or reference)';
