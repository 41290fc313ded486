/**
 * A backend-generic kernel conformance runner for the Engine II contract: a case is host inputs, a
 * call of one or more kernels, and the expected outputs' shapes/tolerances; `runCase` runs it on any
 * backend with async read-back only (so GPU backends qualify), checking on the way that results are
 * fresh storages and that every byte the call allocated is freed again; `compareCase` runs it on a
 * backend and on the oracle (the reference backend) and compares every output. `defineSuite`
 * registers one node:test test per case, grouped by family, plus a coverage check that every kernel
 * of the contract was called.
 *
 * Meant to become the lead's per-backend conformance suite: the case table (kernel-cases.ts) knows
 * nothing of webgpu, and `defineSuite` takes the backend as a (possibly async) factory.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DType, HostArray, KernelName, Kernels, Shape, Storage } from '../../src/backend/kernels.js';
import { assertClose, EXACT, F32, type Tol } from './assert-close.js';

/** A host input of a case. */
export interface CaseIn {
  data: HostArray;
  shape: Shape;
  /** Defaults to the array type (Int32Array -> int32, else float32). */
  dtype?: DType;
}

/** An expected output of a case. */
export interface CaseOut {
  shape: Shape;
  /** Defaults to float32. */
  dtype?: DType;
  tol?: Tol;
  name?: string;
}

/** What a case's call returns: one storage, or a list (null entries for absent results). */
export type CaseResult = Storage | null | readonly (Storage | null)[];

/** One conformance case. */
export interface KernelCase {
  /** Group (kernel family) for the test tree. */
  family: string;
  name: string;
  /** Kernels of the contract the call exercises (for the coverage check). */
  kernels: readonly KernelName[];
  inputs: readonly CaseIn[];
  /** Outputs of the call in order; null: the call must return null there. */
  outs: readonly (CaseOut | null)[];
  call: (k: Kernels, s: Storage[]) => CaseResult;
  /** In-place kernels: inputs read back after the call and compared like outputs (after `outs`). */
  readInputs?: readonly { index: number; out: CaseOut }[];
  /** Results may be input storages (sgdStep returns the momentum buffers it was given). */
  allowInputResults?: boolean;
  /**
   * Hand-checked expected values, one list per output (then per readInputs entry); when present the
   * oracle is not consulted (semantics the current reference does not have, error cases).
   */
  expected?: readonly (readonly number[] | null)[];
  /** The case must fail (at the call or at the read-back) with a message matching this. */
  expectError?: RegExp;
}

function dtypeOf(x: CaseIn): DType {
  return x.dtype ?? (x.data instanceof Int32Array ? 'int32' : 'float32');
}

function arrayMatches(h: HostArray, dt: DType): boolean {
  if (dt === 'int32') return h instanceof Int32Array;
  if (dt === 'float32') return h instanceof Float32Array;
  if (dt === 'float64') return h instanceof Float64Array;
  return h instanceof Uint16Array;
}

/**
 * Runs a case on `k`: uploads the inputs, calls, reads back in-place inputs, disposes the inputs,
 * then reads every output (async `read`) and disposes it. Fails when a result is an input storage
 * (kernels return fresh storages), when the output count, dtype or size is wrong, or when
 * `memoryInUse()` does not return to its value before the case.
 */
export async function runCase(k: Kernels, c: KernelCase): Promise<(HostArray | null)[]> {
  const m0 = k.memoryInUse();
  const ins: Storage[] = [];
  const results = new Set<Storage>();
  let out: (HostArray | null)[];
  try {
    for (const x of c.inputs) ins.push(k.fromHost(x.data, x.shape, dtypeOf(x)));
    const r = c.call(k, [...ins]);
    const list: (Storage | null)[] = r === null || !Array.isArray(r) ? [r as Storage | null] : [...(r as (Storage | null)[])];
    for (const s of list) if (s !== null && !ins.includes(s)) results.add(s);
    assert.equal(list.length, c.outs.length, `${k.name}: the call returned ${list.length} results, expected ${c.outs.length}`);
    if (c.allowInputResults !== true) {
      list.forEach((s, j) => {
        if (s !== null && ins.includes(s)) assert.fail(`${k.name}: result ${j} is one of the input storages (kernels must return fresh storages)`);
      });
    }
    const inPlace: HostArray[] = [];
    for (const ri of c.readInputs ?? []) inPlace.push(await k.read(ins[ri.index]!, ri.out.shape));
    for (const s of ins) if (!list.includes(s)) k.dispose(s);
    out = [];
    for (let j = 0; j < list.length; j++) {
      const s = list[j]!;
      const o = c.outs[j];
      if (o === null || o === undefined) {
        assert.equal(s, null, `${k.name}: result ${j} should be null`);
        out.push(null);
        continue;
      }
      if (s === null) assert.fail(`${k.name}: result ${j}${o.name ? ` (${o.name})` : ''} is null, expected a storage of shape [${o.shape.join(', ')}]`);
      const dt = o.dtype ?? 'float32';
      assert.equal(s.dtype, dt, `${k.name}: result ${j}${o.name ? ` (${o.name})` : ''} has dtype ${s.dtype}, expected ${dt}`);
      const h = await k.read(s, o.shape);
      assert.ok(arrayMatches(h, dt), `${k.name}: read of result ${j} (${dt}) returned a ${h.constructor.name}`);
      assert.equal(h.length, o.shape.reduce((a, b) => a * b, 1), `${k.name}: result ${j} has ${h.length} elements`);
      out.push(h);
    }
    out.push(...inPlace);
  } finally {
    for (const s of ins) k.dispose(s);
    for (const s of results) k.dispose(s);
  }
  const m1 = k.memoryInUse();
  assert.equal(m1, m0, `${k.name}: memoryInUse() was ${m0} before the case and ${m1} after disposing every input and output`);
  return out;
}

/** The expected outputs of a case (outs, then readInputs) with their tolerances. */
function expectedOuts(c: KernelCase): CaseOut[] {
  const outs = c.outs.filter((o): o is CaseOut => o !== null);
  return [...outs, ...(c.readInputs ?? []).map((r) => r.out)];
}

/**
 * Runs `c` on `backend` and compares with the oracle's results (or with `c.expected`). Collects
 * every mismatching output into one failure message.
 */
export async function compareCase(backend: Kernels, oracle: Kernels, c: KernelCase): Promise<void> {
  if (c.expectError !== undefined) {
    await assert.rejects(runCase(backend, c), c.expectError, `${c.name}: the ${backend.name} backend should fail with ${c.expectError}`);
    return;
  }
  let want: (HostArray | readonly number[] | null)[];
  if (c.expected !== undefined) want = [...c.expected];
  else {
    try {
      want = await runCase(oracle, c);
    } catch (e) {
      throw new Error(`${c.name}: the ORACLE (${oracle.name}) failed: ${(e as Error).message}`, { cause: e });
    }
  }
  let got: (HostArray | null)[];
  try {
    got = await runCase(backend, c);
  } catch (e) {
    throw new Error(`${c.name}: the ${backend.name} backend failed: ${(e as Error).message}`, { cause: e });
  }
  const gotList = got.filter((h): h is HostArray => h !== null);
  const wantList = want.filter((h): h is HostArray | readonly number[] => h !== null);
  const outs = expectedOuts(c);
  const errors: string[] = [];
  outs.forEach((o, j) => {
    const tol = o.tol ?? (c.expected !== undefined ? EXACT : F32);
    try {
      assertClose(gotList[j]!, wantList[j]!, tol, `${c.name}${outs.length > 1 ? ` ${o.name ?? `out${j}`}` : ''} (${backend.name} vs ${c.expected ? 'hand-checked values' : oracle.name})`, o.shape);
    } catch (e) {
      errors.push((e as Error).message);
    }
  });
  if (errors.length > 0) assert.fail(errors.join('\n'));
}

/** Every kernel of the contract (the coverage check's list). */
export const ALL_KERNELS: readonly KernelName[] = [
  'fromHost', 'read', 'full', 'dispose', 'memoryInUse',
  'unary', 'binary', 'scalar', 'clamp', 'reluBackward', 'sigmoidBackward', 'tanhBackward', 'cast', 'axpy',
  'reduce', 'argmax',
  'reshape', 'permute', 'slice', 'pad', 'cat', 'indexSelect', 'indexAdd', 'gatherRows', 'scatterRows',
  'matmul', 'linear', 'linearBackward',
  'conv2d', 'conv2dBackwardData', 'conv2dBackwardWeights',
  'maxPool2d', 'maxPool2dBackward', 'avgPool2d', 'avgPool2dBackward', 'adaptiveAvgPool2d', 'adaptiveAvgPool2dBackward',
  'batchNormTrain', 'batchNormInference', 'batchNormBackward',
  'softmax', 'softmaxBackward',
  'resizeBilinear', 'resizeBilinearBackward',
  'sgdStep', 'adamStep',
];

/** `k` with the names of the kernels it is asked for recorded in `called`. */
export function tracked(k: Kernels, called: Set<string>): Kernels {
  return new Proxy(k, {
    get(target, prop, recv) {
      const v: unknown = Reflect.get(target, prop, recv);
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return (...args: unknown[]) => {
        called.add(prop);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/**
 * Registers the conformance tests of `cases` for a backend: one test per case (grouped by family)
 * and a final coverage test. `getBackend` resolves to the backend, or to a string saying why it is
 * unavailable, in which case every test fails with that reason when `required`, else is skipped.
 * `opts.coverage: false` leaves out the coverage test (for partial re-runs of the table).
 */
export function defineSuite(
  label: string,
  getBackend: () => Promise<Kernels | string>,
  oracle: Kernels,
  cases: readonly KernelCase[],
  required: boolean,
  opts: { coverage?: boolean } = {},
): void {
  const called = new Set<string>();
  let backend: Promise<Kernels | string> | null = null;
  const get = (): Promise<Kernels | string> => (backend ??= getBackend().then((k) => (typeof k === 'string' ? k : tracked(k, called))));
  const families = [...new Set(cases.map((c) => c.family))];
  for (const fam of families) {
    describe(`${label}: ${fam}`, () => {
      for (const c of cases.filter((x) => x.family === fam)) {
        test(c.name, async (t) => {
          const k = await get();
          if (typeof k === 'string') {
            if (required) assert.fail(`${label}: the backend is required here (CONVNET_REQUIRE_WEBGPU=1) but unavailable: ${k}`);
            t.skip(k);
            return;
          }
          await compareCase(k, oracle, c);
        });
      }
    });
  }
  if (opts.coverage === false) return;
  test(`${label}: coverage: every kernel of the contract was called`, async (t) => {
    const k = await get();
    if (typeof k === 'string') {
      if (required) assert.fail(`${label}: unavailable: ${k}`);
      t.skip(k);
      return;
    }
    const missing = ALL_KERNELS.filter((n) => !called.has(n));
    assert.deepEqual(missing, [], `${label}: kernels never called by the suite: ${missing.join(', ')}`);
  });
}
