/**
 * The kernel conformance suite: every kernel of the contract, in every dtype a backend declares for
 * it (`Kernels.dtypes`), run on that backend and on the reference backend from the same inputs, and
 * compared. kernels.test.ts goes deep on float32 (layouts, odd shapes, chains); this suite goes
 * across dtypes:
 * - int32 / float32 / float64: the reference computes in the same dtype; int32 must match exactly.
 * - bfloat16: the inputs are rounded to bfloat16 first; the reference computes in float32 on the
 *   same rounded values; the backend's bf16 result (rounded once from float32 accumulation, as the
 *   contract says) must lie within a few bf16 ulps (2^-8 relative) of it.
 * Backends under test: native (when built) and any other registered backend; the reference backend
 * checks itself in float64 against float32 (a consistency check of the dtype-generic kernels).
 * A final test checks that every (kernel, declared dtype) of every backend under test has a case.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UNARY_OPS, type DType, type HostArray, type KernelName, type Kernels, type Shape, type Storage } from '../src/backend/kernels.js';
import { backendByName, nativeAvailable } from '../src/backend/index.js';
import { Generator } from '../src/tensor/random.js';
import { bfloat16ToFloat32, float32ToBfloat16 } from '../src/tensor/dtype.js';
import { assertClose, EXACT, type Tol } from './helpers/assert-close.js';

const ref = backendByName('reference');

/** How an input's values are drawn. */
type Gen = 'normal' | 'pos' | 'distinct' | 'index';

interface InSpec {
  shape: number[];
  gen?: Gen;
  /** index inputs: values in [0, max). */
  max?: number;
  /** Kept in float32 when the case runs in bfloat16 (batch-norm parameters and statistics). */
  f32ForBf16?: boolean;
  /** Always this dtype (int32 indices). */
  fixed?: DType;
}

interface Case {
  kernel: KernelName;
  name: string;
  /** The dtypes the case is meaningful for (default: all floats; `int` adds int32). */
  ints?: boolean;
  floatOnly?: boolean;
  ins: InSpec[];
  run: (k: Kernels, s: Storage[]) => Storage | (Storage | null)[];
  /** Output shapes (null: the result must be null). */
  outs: (Shape | null)[];
  /** Output dtype when it is not the case's dtype (argmax: int32; BN statistics in bf16: float32). */
  outDtype?: (dt: DType) => DType[];
  /** Extra tolerance factor (sums over many terms). */
  slack?: number;
}

const N = 'normal' as const;
const P = 'pos' as const;
const D = 'distinct' as const;
const IDX = (max: number, shape: number[]): InSpec => ({ shape, gen: 'index', max, fixed: 'int32' });
const conv = { stride: [1, 2] as [number, number], padding: [1, 0] as [number, number], dilation: [1, 1] as [number, number], groups: 1 };
const pool = { kernel: [2, 2] as [number, number], stride: [2, 2] as [number, number], padding: [0, 0] as [number, number], countIncludePad: true, out: [2, 3] as [number, number] };
const bnStat = (C: number, gen: Gen = N): InSpec => ({ shape: [C], gen, f32ForBf16: true });

const cases: Case[] = [
  { kernel: 'fromHost', name: 'fromHost/toHost round trip', ints: true, ins: [{ shape: [3, 5] }], run: (k, [x]) => k.reshape(x!, [3, 5], [15]), outs: [[15]] },
  { kernel: 'toHost', name: 'toHost', ints: true, ins: [{ shape: [2, 7] }], run: (k, [x]) => k.permute(x!, [2, 7], [0, 1]), outs: [[2, 7]] },
  { kernel: 'read', name: 'read (async, checked in its own test)', ints: true, ins: [{ shape: [4] }], run: (k, [x]) => k.reshape(x!, [4], [4]), outs: [[4]] },
  { kernel: 'full', name: 'full', ints: true, ins: [{ shape: [1] }], run: (k, [x]) => [k.full([2, 3], x!.dtype, 3)], outs: [[2, 3]] },
  { kernel: 'dispose', name: 'dispose (implicit in every case)', ints: true, ins: [{ shape: [2] }], run: (k, [x]) => k.reshape(x!, [2], [2]), outs: [[2]] },
  { kernel: 'memoryInUse', name: 'memoryInUse (implicit)', ints: true, ins: [{ shape: [2] }], run: (k, [x]) => k.reshape(x!, [2], [1, 2]), outs: [[1, 2]] },
  ...UNARY_OPS.map(
    (op): Case => ({ kernel: 'unary', name: `unary ${op}`, floatOnly: true, ins: [{ shape: [3, 17], gen: ['log', 'sqrt', 'rsqrt'].includes(op) ? P : N }], run: (k, [x]) => k.unary(op, x!, [3, 17]), outs: [[3, 17]] }),
  ),
  ...(['add', 'sub', 'mul', 'maximum', 'minimum', 'gt', 'ge', 'lt', 'le', 'eq'] as const).map(
    (op): Case => ({ kernel: 'binary', name: `binary ${op} broadcast`, ints: true, ins: [{ shape: [2, 3, 5] }, { shape: [3, 1] }], run: (k, [a, b]) => k.binary(op, a!, [2, 3, 5], b!, [3, 1], [2, 3, 5]), outs: [[2, 3, 5]] }),
  ),
  ...(['div', 'pow'] as const).map(
    (op): Case => ({ kernel: 'binary', name: `binary ${op}`, floatOnly: true, ins: [{ shape: [4, 6], gen: P }, { shape: [6], gen: P }], run: (k, [a, b]) => k.binary(op, a!, [4, 6], b!, [6], [4, 6]), outs: [[4, 6]] }),
  ),
  ...(['add', 'sub', 'mul', 'maximum', 'minimum', 'gt', 'eq'] as const).map(
    (op): Case => ({ kernel: 'scalar', name: `scalar ${op} (both orders)`, ints: true, ins: [{ shape: [5, 7] }], run: (k, [x]) => [k.scalar(op, x!, [5, 7], 2, false), k.scalar(op, x!, [5, 7], -1, true)], outs: [[5, 7], [5, 7]] }),
  ),
  { kernel: 'scalar', name: 'scalar div/pow', floatOnly: true, ins: [{ shape: [5, 7], gen: P }], run: (k, [x]) => [k.scalar('div', x!, [5, 7], 3, false), k.scalar('pow', x!, [5, 7], 1.5, false), k.scalar('div', x!, [5, 7], 2, true)], outs: [[5, 7], [5, 7], [5, 7]] },
  { kernel: 'clamp', name: 'clamp', floatOnly: true, ins: [{ shape: [4, 9] }], run: (k, [x]) => [k.clamp(x!, [4, 9], -0.5, 0.75), k.clamp(x!, [4, 9], -Infinity, 0)], outs: [[4, 9], [4, 9]] },
  { kernel: 'reluBackward', name: 'reluBackward', floatOnly: true, ins: [{ shape: [3, 11] }, { shape: [3, 11] }], run: (k, [dy, y]) => k.reluBackward(dy!, y!, [3, 11]), outs: [[3, 11]] },
  { kernel: 'sigmoidBackward', name: 'sigmoidBackward', floatOnly: true, ins: [{ shape: [3, 11] }, { shape: [3, 11], gen: P }], run: (k, [dy, y]) => k.sigmoidBackward(dy!, y!, [3, 11]), outs: [[3, 11]] },
  { kernel: 'tanhBackward', name: 'tanhBackward', floatOnly: true, ins: [{ shape: [3, 11] }, { shape: [3, 11] }], run: (k, [dy, y]) => k.tanhBackward(dy!, y!, [3, 11]), outs: [[3, 11]] },
  { kernel: 'cast', name: 'cast to float32 and int32', ints: true, ins: [{ shape: [4, 5] }], run: (k, [x]) => [k.cast(x!, [4, 5], 'float32'), k.cast(x!, [4, 5], 'int32')], outs: [[4, 5], [4, 5]], outDtype: () => ['float32', 'int32'] },
  { kernel: 'axpy', name: 'axpy', floatOnly: true, ins: [{ shape: [6, 7] }, { shape: [6, 7] }], run: (k, [a, b]) => k.axpy(a!, b!, [6, 7], -0.75), outs: [[6, 7]] },
  ...(['sum', 'mean', 'max', 'min'] as const).map(
    (op): Case => ({ kernel: 'reduce', name: `reduce ${op} axes [0, 2]`, floatOnly: true, ins: [{ shape: [3, 4, 5], gen: D }], run: (k, [x]) => k.reduce(op, x!, [3, 4, 5], [0, 2]), outs: [[1, 4, 1]], slack: 4 }),
  ),
  { kernel: 'argmax', name: 'argmax axis 1', ints: true, ins: [{ shape: [4, 9, 3], gen: D }], run: (k, [x]) => k.argmax(x!, [4, 9, 3], 1), outs: [[4, 1, 3]], outDtype: () => ['int32'] },
  { kernel: 'reshape', name: 'reshape', ints: true, ins: [{ shape: [2, 3, 4] }], run: (k, [x]) => k.reshape(x!, [2, 3, 4], [6, 4]), outs: [[6, 4]] },
  { kernel: 'permute', name: 'permute', ints: true, ins: [{ shape: [2, 3, 4] }], run: (k, [x]) => k.permute(x!, [2, 3, 4], [2, 0, 1]), outs: [[4, 2, 3]] },
  { kernel: 'slice', name: 'slice', ints: true, ins: [{ shape: [4, 5, 6] }], run: (k, [x]) => k.slice(x!, [4, 5, 6], [1, 2, 0], [2, 3, 6]), outs: [[2, 3, 6]] },
  { kernel: 'pad', name: 'pad', ints: true, ins: [{ shape: [2, 3, 6] }], run: (k, [x]) => k.pad(x!, [2, 3, 6], [1, 2, 0], [4, 5, 6]), outs: [[4, 5, 6]] },
  { kernel: 'cat', name: 'cat axis 1', ints: true, ins: [{ shape: [2, 3, 4] }, { shape: [2, 5, 4] }], run: (k, [a, b]) => k.cat([a!, b!], [[2, 3, 4], [2, 5, 4]], 1), outs: [[2, 8, 4]] },
  { kernel: 'indexSelect', name: 'indexSelect with repeats', ints: true, ins: [{ shape: [3, 6, 2] }, IDX(6, [5])], run: (k, [x, i]) => k.indexSelect(x!, [3, 6, 2], 1, i!, 5), outs: [[3, 5, 2]] },
  { kernel: 'indexAdd', name: 'indexAdd with repeats', floatOnly: true, ins: [{ shape: [3, 5, 2] }, IDX(6, [5])], run: (k, [dy, i]) => k.indexAdd(dy!, [3, 5, 2], 1, i!, [3, 6, 2]), outs: [[3, 6, 2]] },
  { kernel: 'gatherRows', name: 'gatherRows', floatOnly: true, ins: [{ shape: [5, 7] }, IDX(7, [5])], run: (k, [x, t]) => k.gatherRows(x!, [5, 7], t!), outs: [[5]] },
  { kernel: 'scatterRows', name: 'scatterRows', floatOnly: true, ins: [{ shape: [5] }, IDX(7, [5])], run: (k, [dy, t]) => k.scatterRows(dy!, [5, 7], t!), outs: [[5, 7]] },
  { kernel: 'matmul', name: 'matmul batched, transposed B', floatOnly: true, ins: [{ shape: [2, 5, 33] }, { shape: [2, 7, 33] }], run: (k, [a, b]) => k.matmul(a!, [2, 5, 33], b!, [2, 7, 33], false, true), outs: [[2, 5, 7]], slack: 6 },
  { kernel: 'linear', name: 'linear with bias', floatOnly: true, ins: [{ shape: [6, 40] }, { shape: [9, 40] }, { shape: [9] }], run: (k, [x, w, b]) => k.linear(x!, [6, 40], w!, [9, 40], b!), outs: [[6, 9]], slack: 6 },
  { kernel: 'linearBackward', name: 'linearBackward', floatOnly: true, ins: [{ shape: [6, 9] }, { shape: [6, 40] }, { shape: [9, 40] }], run: (k, [dy, x, w]) => { const r = k.linearBackward(dy!, x!, [6, 40], w!, [9, 40], true, true); return [r.dx, r.dw, r.db]; }, outs: [[6, 40], [9, 40], [9]], slack: 4 },
  { kernel: 'conv2d', name: 'conv2d stride/padding, bias', floatOnly: true, ins: [{ shape: [2, 5, 7, 8] }, { shape: [6, 5, 3, 3] }, { shape: [6] }], run: (k, [x, w, b]) => k.conv2d(x!, [2, 5, 7, 8], w!, [6, 5, 3, 3], b!, conv, [2, 6, 7, 3]), outs: [[2, 6, 7, 3]], slack: 8 },
  { kernel: 'conv2dBackwardData', name: 'conv2dBackwardData', floatOnly: true, ins: [{ shape: [2, 6, 7, 3] }, { shape: [6, 5, 3, 3] }], run: (k, [dy, w]) => k.conv2dBackwardData(dy!, [2, 6, 7, 3], w!, [6, 5, 3, 3], [2, 5, 7, 8], conv), outs: [[2, 5, 7, 8]], slack: 8 },
  { kernel: 'conv2dBackwardWeights', name: 'conv2dBackwardWeights with bias', floatOnly: true, ins: [{ shape: [2, 6, 7, 3] }, { shape: [2, 5, 7, 8] }], run: (k, [dy, x]) => { const r = k.conv2dBackwardWeights(dy!, [2, 6, 7, 3], x!, [2, 5, 7, 8], [6, 5, 3, 3], true, conv); return [r.dw, r.db]; }, outs: [[6, 5, 3, 3], [6]], slack: 12 },
  { kernel: 'maxPool2d', name: 'maxPool2d', floatOnly: true, ins: [{ shape: [2, 3, 4, 6], gen: D }], run: (k, [x]) => { const r = k.maxPool2d(x!, [2, 3, 4, 6], pool); if (r.workspace) k.dispose(r.workspace); return [r.y]; }, outs: [[2, 3, 2, 3]] },
  { kernel: 'maxPool2dBackward', name: 'maxPool2dBackward', floatOnly: true, ins: [{ shape: [2, 3, 2, 3] }, { shape: [2, 3, 4, 6], gen: D }], run: (k, [dy, x]) => { const r = k.maxPool2d(x!, [2, 3, 4, 6], pool); try { return k.maxPool2dBackward(dy!, x!, r.y, r.workspace, [2, 3, 4, 6], pool); } finally { k.dispose(r.y); if (r.workspace) k.dispose(r.workspace); } }, outs: [[2, 3, 4, 6]] },
  { kernel: 'avgPool2d', name: 'avgPool2d', floatOnly: true, ins: [{ shape: [2, 3, 4, 6] }], run: (k, [x]) => k.avgPool2d(x!, [2, 3, 4, 6], pool), outs: [[2, 3, 2, 3]] },
  { kernel: 'avgPool2dBackward', name: 'avgPool2dBackward', floatOnly: true, ins: [{ shape: [2, 3, 2, 3] }], run: (k, [dy]) => k.avgPool2dBackward(dy!, [2, 3, 4, 6], pool), outs: [[2, 3, 4, 6]] },
  { kernel: 'adaptiveAvgPool2d', name: 'adaptiveAvgPool2d', floatOnly: true, ins: [{ shape: [2, 3, 5, 7] }], run: (k, [x]) => k.adaptiveAvgPool2d(x!, [2, 3, 5, 7], [3, 2]), outs: [[2, 3, 3, 2]] },
  { kernel: 'adaptiveAvgPool2dBackward', name: 'adaptiveAvgPool2dBackward', floatOnly: true, ins: [{ shape: [2, 3, 3, 2] }], run: (k, [dy]) => k.adaptiveAvgPool2dBackward(dy!, [2, 3, 5, 7], [3, 2]), outs: [[2, 3, 5, 7]] },
  { kernel: 'batchNormTrain', name: 'batchNormTrain', floatOnly: true, ins: [{ shape: [4, 3, 5, 5] }, bnStat(3, P), bnStat(3)], run: (k, [x, g, b]) => { const r = k.batchNormTrain(x!, [4, 3, 5, 5], g!, b!, 1e-5); return [r.y, r.mean, r.var]; }, outs: [[4, 3, 5, 5], [3], [3]], outDtype: (dt) => [dt, statDtype(dt), statDtype(dt)], slack: 4 },
  { kernel: 'batchNormInference', name: 'batchNormInference', floatOnly: true, ins: [{ shape: [4, 3, 5, 5] }, bnStat(3, P), bnStat(3), bnStat(3), bnStat(3, P)], run: (k, [x, g, b, m, v]) => k.batchNormInference(x!, [4, 3, 5, 5], g!, b!, m!, v!, 1e-5), outs: [[4, 3, 5, 5]] },
  { kernel: 'batchNormBackward', name: 'batchNormBackward', floatOnly: true, ins: [{ shape: [4, 3, 5, 5] }, { shape: [4, 3, 5, 5] }, bnStat(3, P), bnStat(3), bnStat(3, P)], run: (k, [dy, x, g, m, v]) => { const r = k.batchNormBackward(dy!, x!, [4, 3, 5, 5], g!, m!, v!, 1e-5); return [r.dx, r.dgamma, r.dbeta]; }, outs: [[4, 3, 5, 5], [3], [3]], outDtype: (dt) => [dt, statDtype(dt), statDtype(dt)], slack: 8 },
  { kernel: 'softmax', name: 'softmax and logSoftmax axis 1', floatOnly: true, ins: [{ shape: [4, 10, 3] }], run: (k, [x]) => [k.softmax(x!, [4, 10, 3], 1, false), k.softmax(x!, [4, 10, 3], 1, true)], outs: [[4, 10, 3], [4, 10, 3]] },
  { kernel: 'softmaxBackward', name: 'softmaxBackward (both)', floatOnly: true, ins: [{ shape: [4, 10] }, { shape: [4, 10], gen: P }], run: (k, [dy, y]) => [k.softmaxBackward(dy!, y!, [4, 10], 1, false), k.softmaxBackward(dy!, y!, [4, 10], 1, true)], outs: [[4, 10], [4, 10]], slack: 4 },
  { kernel: 'resizeBilinear', name: 'resizeBilinear up and down', floatOnly: true, ins: [{ shape: [2, 3, 5, 6] }], run: (k, [x]) => [k.resizeBilinear(x!, [2, 3, 5, 6], [8, 4])], outs: [[2, 3, 8, 4]] },
  {
    kernel: 'sgdStep',
    name: 'sgdStep (momentum, nesterov, weight decay; first step makes the buffer)',
    floatOnly: true,
    ins: [{ shape: [3, 4] }, { shape: [3, 4] }, { shape: [5] }, { shape: [5] }],
    run: (k, [p0, g0, p1, g1]) => {
      const h = { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0.01, nesterov: true, maximize: false };
      const bufs = k.sgdStep([p0!, p1!], [g0!, g1!], [null, null], [[3, 4], [5]], h);
      const again = k.sgdStep([p0!, p1!], [g0!, g1!], bufs, [[3, 4], [5]], h);
      return [k.reshape(p0!, [3, 4], [3, 4]), k.reshape(p1!, [5], [5]), ...again];
    },
    outs: [[3, 4], [5], [3, 4], [5]],
  },
  {
    kernel: 'adamStep',
    name: 'adamStep (AdamW, two steps)',
    floatOnly: true,
    ins: [{ shape: [4, 3] }, { shape: [4, 3] }, { shape: [4, 3] }, { shape: [4, 3], gen: P }],
    run: (k, [p, g, m, v]) => {
      for (const step of [1, 2]) k.adamStep([p!], [g!], [m!], [v!], [[4, 3]], { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, decoupled: true, maximize: false, step });
      return [k.reshape(p!, [4, 3], [4, 3]), k.reshape(m!, [4, 3], [4, 3]), k.reshape(v!, [4, 3], [4, 3])];
    },
    outs: [[4, 3], [4, 3], [4, 3]],
  },
  { kernel: 'resizeBilinearBackward', name: 'resizeBilinearBackward', floatOnly: true, ins: [{ shape: [2, 3, 8, 4] }], run: (k, [dy]) => k.resizeBilinearBackward(dy!, [2, 3, 5, 6], [8, 4]), outs: [[2, 3, 5, 6]], slack: 4 },
];

/** Batch-norm statistics and affine parameters are float32 for bfloat16 inputs. */
function statDtype(dt: DType): DType {
  return dt === 'bfloat16' ? 'float32' : dt;
}

function values(spec: InSpec, g: Generator): number[] {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const gen = spec.gen ?? 'normal';
  if (gen === 'index') return Array.from({ length: n }, () => g.randint(spec.max!));
  if (gen === 'pos') return Array.from({ length: n }, () => 0.25 + g.random());
  if (gen === 'distinct') {
    const p = g.permutation(n);
    return Array.from(p, (v) => (v - n / 2) * 0.125); // exact in bf16 for n <= 512 * 8
  }
  return Array.from({ length: n }, () => g.normal());
}

/** Host data of `dt` for `vals` (bfloat16: bits rounded to nearest even). */
function host(dt: DType, vals: number[]): HostArray {
  if (dt === 'bfloat16') return float32ToBfloat16(vals);
  if (dt === 'float64') return Float64Array.from(vals);
  if (dt === 'int32') return Int32Array.from(vals, (v) => Math.round(v * 3));
  return Float32Array.from(vals);
}

/** The dtype the reference computes a `dt` case in (bfloat16 cases: float32 on the rounded inputs). */
function refDtype(dt: DType): DType {
  return dt === 'bfloat16' ? 'float32' : dt;
}

/** Numbers of a host array (bfloat16 bits widened). */
function numbers(dt: DType, h: HostArray): ArrayLike<number> {
  return dt === 'bfloat16' ? bfloat16ToFloat32(h as Uint16Array) : (h as ArrayLike<number>);
}

/** Tolerance of a case in `dt` (scaled by the case's slack for long sums). */
function tolOf(dt: DType, slack = 1): Tol {
  if (dt === 'int32') return EXACT;
  if (dt === 'bfloat16') return { atol: 8e-3 * slack, rtol: 8e-3 * slack };
  if (dt === 'float64') return { atol: 1e-12 * slack, rtol: 1e-12 * slack };
  return { atol: 2e-6 * slack, rtol: 2e-5 * slack };
}

/** Runs `c` in `dt` on `k`: uploads, calls, reads back every output as numbers, frees everything. */
function runCase(k: Kernels, c: Case, dt: DType, vals: number[][], inDt: (spec: InSpec) => DType, outDts: DType[]): (ArrayLike<number> | null)[] {
  const ins: Storage[] = [];
  const outs: Storage[] = [];
  try {
    c.ins.forEach((spec, j) => {
      const d = inDt(spec);
      // Index inputs keep their integers; everything else is converted in `host`.
      const h = spec.gen === 'index' ? Int32Array.from(vals[j]!) : host(d, vals[j]!);
      ins.push(k.fromHost(h, spec.shape, d));
    });
    const r = c.run(k, ins);
    const list = Array.isArray(r) ? r : [r];
    for (const s of list) if (s !== null) outs.push(s);
    assert.equal(list.length, c.outs.length, `${k.name} ${c.name}: ${list.length} results, expected ${c.outs.length}`);
    return list.map((s, j) => {
      const shape = c.outs[j];
      if (shape === null || shape === undefined) {
        assert.equal(s, null);
        return null;
      }
      assert.ok(s !== null, `${k.name} ${c.name}: result ${j} is null`);
      assert.equal(s.dtype, outDts[j], `${k.name} ${c.name}: result ${j} is ${s.dtype}, expected ${outDts[j]}`);
      return numbers(outDts[j]!, k.toHost!(s, shape));
    });
  } finally {
    for (const s of ins) k.dispose(s);
    for (const s of outs) k.dispose(s);
  }
}

/** The backends whose declared dtypes are checked against the reference. */
const underTest: Kernels[] = [];
if (nativeAvailable()) underTest.push(backendByName('native'));

function dtypesOf(k: Kernels, c: Case): DType[] {
  return k.dtypes[c.kernel].filter((dt) => (dt === 'int32' ? (c.ints ?? false) && !c.floatOnly : true));
}

for (const k of underTest) {
  for (const c of cases) {
    for (const dt of dtypesOf(k, c)) {
      test(`${k.name} ${dt}: ${c.name}`, () => {
        const g = new Generator(42);
        const vals = c.ins.map((spec) => values(spec, g));
        // bfloat16 cases: both sides see the same bf16-rounded values.
        const rounded = dt === 'bfloat16' ? vals.map((v, j) => (c.ins[j]!.gen === 'index' || c.ins[j]!.f32ForBf16 ? v : [...bfloat16ToFloat32(float32ToBfloat16(v))])) : vals;
        const inDt = (spec: InSpec): DType => spec.fixed ?? (dt === 'bfloat16' && spec.f32ForBf16 ? 'float32' : dt);
        const outDts = c.outDtype?.(dt) ?? c.outs.map(() => dt);
        const before = k.memoryInUse();
        const got = runCase(k, c, dt, rounded, inDt, outDts);
        assert.equal(k.memoryInUse(), before, `${k.name} ${c.name}: memory in use returned to its start`);
        const rdt = refDtype(dt);
        const want = runCase(ref, c, rdt, rounded, (spec) => spec.fixed ?? refDtype(inDt(spec)), outDts.map(refDtype));
        got.forEach((g1, j) => {
          if (g1 === null) return;
          const shape = c.outs[j]!;
          assertClose(g1, want[j]!, tolOf(outDts[j]! === 'int32' ? 'int32' : dt, c.slack), `${k.name} ${dt} ${c.name}: result ${j}`, shape);
        });
      });
    }
  }
}

test('reference: float64 kernels agree with float32 ones (the dtype-generic code paths)', () => {
  for (const c of cases) {
    if (!ref.dtypes[c.kernel].includes('float64')) continue;
    const g = new Generator(7);
    const vals = c.ins.map((spec) => values(spec, g));
    const dtIn = (d: DType) => (spec: InSpec): DType => spec.fixed ?? d;
    const outs = (d: DType): DType[] => c.outDtype?.(d) ?? c.outs.map(() => d);
    const a = runCase(ref, c, 'float64', vals, dtIn('float64'), outs('float64'));
    const b = runCase(ref, c, 'float32', vals.map((v) => [...Float32Array.from(v)]), dtIn('float32'), outs('float32'));
    a.forEach((x, j) => {
      if (x !== null) assertClose(x, b[j]!, outs('float32')[j] === 'int32' ? EXACT : { atol: 2e-5 * (c.slack ?? 1), rtol: 1e-4 }, `${c.name}: result ${j}`, c.outs[j]!);
    });
  }
});

test('every kernel in every declared dtype has a conformance case', () => {
  const missing: string[] = [];
  for (const k of [ref, ...underTest]) {
    for (const [kernel, dts] of Object.entries(k.dtypes) as [KernelName, readonly DType[]][]) {
      for (const dt of dts) {
        const ok = cases.some((c) => c.kernel === kernel && (dt === 'int32' ? (c.ints ?? false) && !c.floatOnly : true));
        if (!ok) missing.push(`${k.name} ${kernel} ${dt}`);
      }
    }
  }
  assert.deepEqual(missing, []);
});

test('read (async) returns what toHost returns, on every backend', async () => {
  for (const k of [ref, ...underTest]) {
    const s = k.fromHost(Float32Array.from([1.5, -2, 3.25]), [3], 'float32');
    try {
      assert.deepEqual([...(await k.read(s, [3]))], [...k.toHost!(s, [3])]);
    } finally {
      k.dispose(s);
    }
  }
});
