/**
 * Runs kernel calls on the backends under test from the same host inputs and compares the
 * row-major `toHost` results, checking on the way that the native backend frees every byte the
 * call allocated.
 *
 * On the native backend an input may be put into a oneDNN BLOCKED layout first (`blocked: true`,
 * 4-D float32 only): it goes through a 1x1 convolution with identity weights, which reproduces the
 * values exactly (x*1 + sum of 0*x') and leaves them in the convolution's preferred layout
 * (nChw16c on AVX-512 machines, channels padded to a multiple of 16).
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { DType, HostArray, Kernels, Shape, Storage } from '../../src/backend/kernels.js';
import { backendByName, nativeAvailable } from '../../src/backend/index.js';
import { addon, NativeStorage } from '../../src/backend/native/addon.js';
import { assertClose, F32, type Tol } from './assert-close.js';
import { numel } from './data.js';

/** The reference backend (the oracle). */
export const ref: Kernels = backendByName('reference');

/** Names of the native kernels this process has called (for the suite's coverage check). */
export const calledNativeKernels = new Set<string>();

/** `k` with every method call recorded in `calledNativeKernels`. */
function tracked(k: Kernels): Kernels {
  return new Proxy(k, {
    get(target, prop, recv) {
      const v: unknown = Reflect.get(target, prop, recv);
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return (...args: unknown[]) => {
        calledNativeKernels.add(prop);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** The native backend (calls recorded), or null when the addon did not load. */
export const native: Kernels | null = nativeAvailable() ? tracked(backendByName('native')) : null;

/** The physical layout of a native storage ('plain' or 'blocked:...'), or null for other backends. */
export function layoutOf(s: Storage): string | null {
  if (addon === null || !(s instanceof NativeStorage)) return null;
  const f = addon.layoutOf;
  return typeof f === 'function' ? String(f(s.h)) : null;
}

/**
 * True when the zero-padded area of a native blocked storage (e.g. the channel tail of nChw16c with
 * C % 16 != 0) holds only zeros, as every kernel assumes; true for dense layouts and other backends.
 */
export function paddingIsZero(s: Storage): boolean {
  if (addon === null || !(s instanceof NativeStorage)) return true;
  const f = addon.paddingIsZero;
  if (typeof f !== 'function') throw new Error('the native addon has no paddingIsZero (rebuild it: npm run build:native)');
  return Boolean(f(s.h));
}

/** True when `s` is a native storage in a blocked (non row-major) layout. */
export function isBlocked(s: Storage): boolean {
  return layoutOf(s)?.startsWith('blocked') ?? false;
}

/**
 * On the native backend: a copy of the 4-D float32 storage `s` in the layout a convolution
 * produces (through an identity 1x1 convolution; blocked, e.g. nChw16c, on AVX2/AVX-512 CPUs);
 * `s` itself is left alone. On other backends: a plain copy via toHost.
 * With `requireBlocked`, throws when the native result is not blocked (the tests whose point is
 * the blocked layout say so; elsewhere oneDNN's choice for the machine is accepted as is).
 */
export function blockedCopy(k: Kernels, s: Storage, shape: Shape, requireBlocked = false): Storage {
  if (shape.length !== 4) throw new Error(`blockedCopy: expected a 4-D shape, got [${shape.join(', ')}]`);
  if (k !== native) return k.fromHost(k.toHost!(s, shape), shape, 'float32');
  const C = shape[1]!;
  const host = k.toHost!(s, shape);
  const finite = host.every((v) => Number.isFinite(v));
  const eye = new Float32Array(C * C);
  for (let c = 0; c < C; c++) eye[c * C + c] = 1;
  const w = k.fromHost(eye, [C, C, 1, 1], 'float32');
  const conv = { stride: [1, 1] as [number, number], padding: [0, 0] as [number, number], dilation: [1, 1] as [number, number], groups: 1 };
  let y: Storage;
  try {
    if (finite) {
      y = k.conv2d(s, shape, w, [C, C, 1, 1], null, conv, shape);
    } else {
      // 0 * ±Inf would put NaN into the other channels: convolve zeros instead and add the data
      // (blocked + plain of the same shape keeps the blocked layout of the first operand).
      const z = k.full(shape, 'float32', 0);
      const zb = k.conv2d(z, shape, w, [C, C, 1, 1], null, conv, shape);
      k.dispose(z);
      y = k.binary('add', zb, shape, s, shape, shape);
      k.dispose(zb);
    }
  } finally {
    k.dispose(w);
  }
  if (requireBlocked && !isBlocked(y)) {
    const lay = layoutOf(y);
    k.dispose(y);
    throw new Error(
      `test precondition: ${finite ? 'an identity 1x1 conv' : 'blocked zeros + plain data'} of shape [${shape.join(', ')}] did not produce a blocked layout (got ${lay})`,
    );
  }
  return y;
}

/** A host input of a kernel call. */
export interface In {
  data: HostArray;
  shape: Shape;
  /** Defaults to the array type (Int32Array -> int32). */
  dtype?: DType;
  /** Native only: hand the kernel a blocked-layout copy (4-D float32). */
  blocked?: boolean;
}

/** An expected output of a kernel call (null in `outs` means the kernel must return null there). */
export interface Out {
  shape: Shape;
  dtype?: DType;
  tol?: Tol;
  name?: string;
}

/** What a kernel call returns: one storage, or a list (null entries for absent results). */
export type CallResult = Storage | null | readonly (Storage | null)[];

/** Shorthand for a float32 input. */
export function f(data: Float32Array, shape: Shape, blocked = false): In {
  return { data, shape, dtype: 'float32', blocked };
}

/** Shorthand for an int32 input. */
export function i(data: Int32Array, shape: Shape): In {
  return { data, shape, dtype: 'int32' };
}

function dtypeOfIn(x: In): DType {
  return x.dtype ?? (x.data instanceof Int32Array ? 'int32' : 'float32');
}

/**
 * Uploads the inputs, runs `call`, disposes the inputs, then reads every output back and disposes
 * it. Disposing the inputs first checks the contract that results are fresh storages (only
 * `reshape` may share memory, and then disposing its input must leave it valid).
 */
export function runKernel(
  k: Kernels,
  inputs: readonly In[],
  call: (k: Kernels, s: Storage[]) => CallResult,
  outs: readonly (Out | null)[],
): (HostArray | null)[] {
  const ins: Storage[] = [];
  const results: Storage[] = [];
  try {
    const args: Storage[] = inputs.map((x) => {
      const dt = dtypeOfIn(x);
      const s = k.fromHost(x.data, x.shape, dt);
      ins.push(s);
      if (x.blocked === true && k === native) {
        if (dt !== 'float32') throw new Error('blocked inputs must be float32');
        const b = blockedCopy(k, s, x.shape);
        ins.push(b);
        return b;
      }
      return s;
    });
    const r = call(k, args);
    const list: (Storage | null)[] = r === null || !Array.isArray(r) ? [r as Storage | null] : [...(r as (Storage | null)[])];
    for (const s of list) if (s !== null) results.push(s);
    assert.equal(list.length, outs.length, `${k.name}: kernel returned ${list.length} results, expected ${outs.length}`);
    list.forEach((s, j) => {
      if (s !== null && ins.includes(s)) assert.fail(`${k.name}: result ${j} is one of the input storage objects (kernels must return fresh storages)`);
    });
    for (const s of ins) k.dispose(s);
    ins.length = 0;
    return list.map((s, j) => {
      const o = outs[j];
      if (o === null || o === undefined) {
        assert.equal(s, null, `${k.name}: result ${j} should be null`);
        return null;
      }
      if (s === null) {
        assert.fail(`${k.name}: result ${j}${o.name ? ` (${o.name})` : ''} is null, expected a storage of shape [${o.shape.join(', ')}]`);
      }
      const dt = o.dtype ?? 'float32';
      let h: HostArray;
      try {
        h = k.toHost!(s, o.shape);
      } catch (e) {
        throw new Error(`${k.name}: toHost of result ${j}${o.name ? ` (${o.name})` : ''} failed after its inputs were disposed: ${(e as Error).message}`);
      }
      assert.ok(
        dt === 'int32' ? h instanceof Int32Array : h instanceof Float32Array,
        `${k.name}: toHost of result ${j}${o.name ? ` (${o.name})` : ''} as ${dt} returned a ${h.constructor.name}`,
      );
      assert.equal(h.length, numel(o.shape), `${k.name}: result ${j} has ${h.length} elements, expected ${numel(o.shape)}`);
      return h;
    });
  } finally {
    for (const s of ins) k.dispose(s);
    for (const s of results) k.dispose(s);
  }
}

/** Options of `compareBackends`. */
export interface CompareOpts {
  /** Check that the native memoryInUse returns to its starting value (default true). */
  leak?: boolean;
}

/**
 * Runs the same call on the reference and native backends and compares every output. Collects all
 * mismatches (and a native leak, if any) into one failure message naming `label`.
 * Returns both sets of host results for extra checks.
 */
export function compareBackends(
  label: string,
  inputs: readonly In[],
  outs: readonly (Out | null)[],
  call: (k: Kernels, s: Storage[]) => CallResult,
  opts: CompareOpts = {},
): { ref: (HostArray | null)[]; nat: (HostArray | null)[] } {
  if (native === null) throw new Error('compareBackends needs the native backend');
  let r: (HostArray | null)[];
  try {
    r = runKernel(ref, inputs, call, outs);
  } catch (e) {
    throw new Error(`${label}: the REFERENCE backend threw: ${(e as Error).message}`, { cause: e });
  }
  const m0 = native.memoryInUse();
  let n: (HostArray | null)[];
  try {
    n = runKernel(native, inputs, call, outs);
  } catch (e) {
    throw new Error(`${label}: the native backend threw: ${(e as Error).message}`, { cause: e });
  }
  const m1 = native.memoryInUse();
  const errors: string[] = [];
  outs.forEach((o, j) => {
    if (o === null) return;
    try {
      assertClose(n[j]!, r[j]!, o.tol ?? F32, `${label}${outs.length > 1 ? ` ${o.name ?? `out${j}`}` : ''} (native vs reference)`, o.shape);
    } catch (e) {
      errors.push((e as Error).message);
    }
  });
  if ((opts.leak ?? true) && m1 !== m0) {
    errors.push(`${label}: native memoryInUse() was ${m0} before and ${m1} after disposing every input and output (${m1 - m0} bytes leaked)`);
  }
  if (errors.length > 0) assert.fail(errors.join('\n'));
  return { ref: r, nat: n };
}

/** A test that needs the native backend; skipped (with a notice) when the addon is not built. */
export function nativeTest(name: string, fn: (nk: Kernels, t: TestContext) => void): void {
  test(name, (t) => {
    if (native === null) {
      t.skip('native addon not built');
      return;
    }
    fn(native, t);
  });
}

/**
 * Records the intermediates of a chain of kernel calls on one backend: each `rec` reads the value
 * back to the host right away and keeps the storage for a final `disposeAll`.
 */
export class ChainRecorder {
  readonly host = new Map<string, { data: HostArray; shape: Shape; tol: Tol; layout: string | null }>();
  private readonly owned: Storage[] = [];

  constructor(readonly k: Kernels) {}

  /** Keeps `s` for disposal and records its row-major value under `name`. */
  rec(name: string, s: Storage, shape: Shape, tol: Tol = F32, dtype: DType = 'float32'): Storage {
    this.owned.push(s);
    if (this.host.has(name)) throw new Error(`chain: duplicate name ${name}`);
    this.host.set(name, { data: this.k.toHost!(s, shape), shape, tol, layout: layoutOf(s) });
    return s;
  }

  /** Keeps `s` for disposal without recording it (inputs, parameters). */
  own(s: Storage): Storage {
    this.owned.push(s);
    return s;
  }

  /** Uploads a float32 host array. */
  input(data: Float32Array, shape: Shape): Storage {
    return this.own(this.k.fromHost(data, shape, 'float32'));
  }

  disposeAll(): void {
    for (const s of this.owned) this.k.dispose(s);
    this.owned.length = 0;
  }
}

/** Compares every recorded intermediate of two chain runs; returns the mismatch messages. */
export function compareChains(label: string, nat: ChainRecorder, refRec: ChainRecorder): string[] {
  const errors: string[] = [];
  for (const [name, r] of refRec.host) {
    const n = nat.host.get(name);
    if (n === undefined) {
      errors.push(`${label}: native run did not produce ${name}`);
      continue;
    }
    try {
      assertClose(n.data, r.data, r.tol, `${label}: ${name} (native layout ${n.layout ?? '?'})`, r.shape);
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  return errors;
}
