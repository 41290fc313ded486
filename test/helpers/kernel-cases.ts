/**
 * The conformance case table: every kernel of the Engine II contract, each shape family, forward
 * and backward, from seeded host data. Backend-neutral (see conformance.ts): shapes are kept small
 * so that a software GPU (SwiftShader) runs the whole table in CI.
 *
 * Families and what they reach:
 * - memory: round trips of ranks 0-4 and zero-size shapes, `full` (float32 rounding, int32
 *   truncation, -Infinity), reshape sharing (inputs are disposed before the read-back);
 * - elementwise: every unary op on random data with ±0, ±Infinity, NaN, overflow and underflow
 *   mixed in; every binary op on equal shapes, two-sided broadcasting, a rank-0 operand and an
 *   output larger than the broadcast; NaN operands; PyTorch's pow rules; int32 arithmetic and
 *   comparisons; scalar ops both ways round with a float32-inexact scalar; clamp with ±Infinity
 *   bounds; activation backwards; casts; axpy;
 * - reductions: sum/mean/max/min over inner, outer, middle and all axes, long rows (workgroup
 *   path), NaN, empty reductions; argmax with ties, NaN and int32 input;
 * - layout: permutations of ranks 3 and 4, slice/pad, cat along every axis, index kernels with
 *   repeated indices, int32 data, an out-of-range index;
 * - linear algebra: matmul with all transposes, batch broadcasting both ways, partial tiles,
 *   K = 0 and a long K (split-K); linear and its gradients with and without bias and dx;
 * - convolution: stride, padding, dilation, groups, depthwise, 1x1, 5x5 (LeNet), 11x11 stride 4
 *   (AlexNet), asymmetric geometry, a long weight-gradient reduction; forward (with and without
 *   bias), backward data, backward weights (with and without bias);
 * - pooling: max (incl. a dropped workspace), average (both divisor rules, padding), adaptive
 *   (down and up); batch norm 2-D and 4-D, several chunks per channel, a constant channel;
 *   softmax/logSoftmax along inner and outer axes, long rows, -Infinity entries, NaN rows;
 *   bilinear resize up, down, non-integer ratios, identity; fused SGD and Adam updates.
 */
import type { AdamHyper, Conv2dParams, KernelName, Kernels, Pool2dParams, Shape, SgdHyper, Storage } from '../../src/backend/kernels.js';
import { BINARY_OPS, UNARY_OPS } from '../../src/backend/kernels.js';
import { EXACT, F32, sumTol, type Tol } from './assert-close.js';
import type { CaseIn, CaseOut, KernelCase } from './conformance.js';
import { Generator, distinct, numel, outSize, randInt32, randn, sh, smallInts, uniform } from './data.js';

const fin = (data: Float32Array, shape: Shape): CaseIn => ({ data, shape, dtype: 'float32' });
const iin = (data: Int32Array, shape: Shape): CaseIn => ({ data, shape, dtype: 'int32' });
const out = (shape: Shape, tol: Tol = F32, name?: string): CaseOut => ({ shape, tol, name });
const iout = (shape: Shape, name?: string): CaseOut => ({ shape, dtype: 'int32', tol: EXACT, name });

const cases: KernelCase[] = [];
function add(family: string, name: string, kernels: readonly KernelName[], c: Omit<KernelCase, 'family' | 'name' | 'kernels'>): void {
  cases.push({ family, name, kernels, ...c });
}

/** Broadcast of two shapes (NumPy rules). */
function broadcast(a: Shape, b: Shape): number[] {
  const r = Math.max(a.length, b.length);
  const o: number[] = [];
  for (let d = 0; d < r; d++) {
    const x = a[a.length - r + d] ?? 1;
    const y = b[b.length - r + d] ?? 1;
    o.push(x === 1 ? y : x);
  }
  return o;
}

// ---- memory ---------------------------------------------------------------------------------
{
  const F = 'memory';
  const g = new Generator(1);
  for (const shape of [[], [7], [3, 5], [2, 3, 4], [2, 1, 3, 2]] as Shape[]) {
    add(F, `fromHost/read round trip float32 ${sh(shape)} (through reshape)`, ['fromHost', 'read', 'reshape', 'dispose', 'memoryInUse'], {
      inputs: [fin(randn(g, numel(shape)), shape)],
      outs: [out(shape, EXACT)],
      call: (k, [x]) => k.reshape(x!, shape, shape),
    });
  }
  add(F, 'fromHost/read round trip int32 (negative and large values)', ['fromHost', 'read', 'reshape'], {
    inputs: [iin(Int32Array.from([0, -1, 2147483647, -2147483648, 12345, -7]), [2, 3])],
    outs: [iout([3, 2])],
    call: (k, [x]) => k.reshape(x!, [2, 3], [3, 2]),
  });
  add(F, 'zero-size shapes [2, 0, 3] -> [0, 3]', ['fromHost', 'reshape', 'read'], {
    inputs: [fin(new Float32Array(0), [2, 0, 3])],
    outs: [out([0, 3], EXACT)],
    call: (k, [x]) => k.reshape(x!, [2, 0, 3], [0, 3]),
  });
  add(F, 'full: float32 0.1 (rounded), int32 -2.7 (truncated), -Infinity, rank 0', ['full'], {
    inputs: [],
    outs: [out([3, 4], EXACT), iout([5]), out([4], EXACT), out([], EXACT)],
    call: (k) => [k.full([3, 4], 'float32', 0.1), k.full([5], 'int32', -2.7), k.full([4], 'float32', -Infinity), k.full([], 'float32', 3.5)],
  });
}

// ---- elementwise ----------------------------------------------------------------------------
{
  const F = 'elementwise';
  const shape = [3, 5, 7];
  const specials = [0, -0, Infinity, -Infinity, NaN, 1e-30, 100, -100, 88, 89, -104, 0.5, -0.5, 1, -1, 1e-4];
  for (const op of UNARY_OPS) {
    const g = new Generator(100 + UNARY_OPS.indexOf(op));
    const x = randn(g, numel(shape), 2);
    x.set(specials);
    add(F, `unary ${op} ${sh(shape)} with ±0, ±Inf, NaN, overflow`, ['unary'], {
      inputs: [fin(x, shape)],
      outs: [out(shape)],
      call: (k, [s]) => k.unary(op, s!, shape),
    });
  }
  const families: [string, Shape, Shape, Shape, readonly (typeof BINARY_OPS)[number][]][] = [
    ['equal shapes', [2, 3, 4], [2, 3, 4], [2, 3, 4], BINARY_OPS],
    ['broadcast both ways [2,1,4] x [3,1]', [2, 1, 4], [3, 1], [2, 3, 4], BINARY_OPS],
    ['rank-0 operand', [], [5], [5], ['add', 'div', 'maximum', 'lt']],
    ['output larger than the broadcast [3] x [1] -> [2,3]', [3], [1], [2, 3], ['sub', 'mul', 'eq']],
  ];
  families.forEach(([fname, aS, bS, oS, ops], fi) => {
    for (const op of ops) {
      const g = new Generator(200 + fi * 20 + BINARY_OPS.indexOf(op));
      const cmp = ['gt', 'ge', 'lt', 'le', 'eq', 'maximum', 'minimum'].includes(op);
      const a = cmp ? smallInts(g, numel(aS), -2, 3) : op === 'pow' ? uniform(g, numel(aS), 0.2, 3) : randn(g, numel(aS));
      const b = cmp ? smallInts(g, numel(bS), -2, 3) : op === 'pow' ? uniform(g, numel(bS), -2, 2) : op === 'div' ? uniform(g, numel(bS), 0.5, 2) : randn(g, numel(bS));
      add(F, `binary ${op}: ${fname}`, ['binary'], {
        inputs: [fin(a, aS), fin(b, bS)],
        outs: [out(oS)],
        call: (k, [sa, sb]) => k.binary(op, sa!, aS, sb!, bS, oS),
      });
    }
  });
  {
    const a = Float32Array.from([NaN, 1, NaN, -Infinity, Infinity, 2, 0, NaN]);
    const b = Float32Array.from([1, NaN, NaN, Infinity, Infinity, 2, -0, 0]);
    for (const op of BINARY_OPS.filter((o) => o !== 'pow')) {
      add(F, `binary ${op} with NaN and ±Infinity operands (comparisons give 0, max/min propagate NaN)`, ['binary'], {
        inputs: [fin(a, [8]), fin(b, [8])],
        outs: [out([8])],
        call: (k, [sa, sb]) => k.binary(op, sa!, [8], sb!, [8], [8]),
      });
    }
  }
  // PyTorch (C) pow: pow(1, NaN) = 1, pow(NaN, 0) = 1, negative bases with integer exponents keep
  // their sign, fractional exponents of negative bases are NaN, pow(±0, -1) = ±Inf.
  add(F, 'binary pow: PyTorch special cases (hand-checked)', ['binary'], {
    inputs: [fin(Float32Array.from([1, NaN, NaN, 2, -2, -8, 0, -0, -2, 4, 0.5, 2]), [12]), fin(Float32Array.from([NaN, 0, 1, NaN, 3, 1 / 3, -1, -1, 2, 0.5, -Infinity, Infinity]), [12])],
    outs: [out([12], { atol: 0, rtol: 1e-6 })],
    call: (k, [a, b]) => k.binary('pow', a!, [12], b!, [12], [12]),
    expected: [[1, 1, NaN, NaN, -8, NaN, Infinity, -Infinity, 4, 2, Infinity, Infinity]],
  });
  {
    const g = new Generator(300);
    const a = randInt32(g, 6, -5, 6);
    const b = randInt32(g, 3, -5, 6);
    for (const op of ['add', 'sub', 'mul', 'maximum', 'minimum', 'gt', 'ge', 'lt', 'le', 'eq'] as const) {
      add(F, `binary ${op} int32 [2,3] x [3] -> int32`, ['binary'], {
        inputs: [iin(a, [2, 3]), iin(b, [3])],
        outs: [iout([2, 3])],
        call: (k, [sa, sb]) => k.binary(op, sa!, [2, 3], sb!, [3], [2, 3]),
      });
    }
  }
  for (const op of BINARY_OPS) {
    for (const reverse of [false, true]) {
      const g = new Generator(400 + BINARY_OPS.indexOf(op) * 2 + (reverse ? 1 : 0));
      const x = op === 'pow' && reverse ? randn(g, 35) : op === 'pow' ? uniform(g, 35, 0.1, 3) : op === 'div' && reverse ? uniform(g, 35, 0.5, 2) : smallInts(g, 35, -1, 2).map((v, i) => (i % 3 === 0 ? v * 0.1 : v + 0.3 * Math.sin(i)));
      x[0] = 0.1; // equal to float32(0.1): comparisons against the scalar see a tie
      add(F, `scalar ${op} ${reverse ? '(s op x)' : '(x op s)'} with s = 0.1 (float32-inexact)`, ['scalar'], {
        inputs: [fin(x, [5, 7])],
        outs: [out([5, 7])],
        call: (k, [s]) => k.scalar(op, s!, [5, 7], 0.1, reverse),
      });
    }
  }
  for (const [op, reverse] of [['add', false], ['mul', true], ['gt', false], ['sub', true]] as const) {
    add(F, `scalar ${op} int32 ${reverse ? '(s op x)' : '(x op s)'} with s = 2.7 (truncated to 2)`, ['scalar'], {
      inputs: [iin(Int32Array.from([-3, -2, 0, 1, 2, 5]), [6])],
      outs: [iout([6])],
      call: (k, [s]) => k.scalar(op, s!, [6], 2.7, reverse),
    });
  }
  {
    const x = Float32Array.from([-2, -0.5, 0, 0.25, 0.5, 3, NaN, Infinity, -Infinity, -0.7, 0.7, 1]);
    for (const [lo, hi] of [[-0.5, 0.5], [-Infinity, 0], [0, Infinity]] as const) {
      add(F, `clamp [${lo}, ${hi}] with NaN and ±Infinity data`, ['clamp'], {
        inputs: [fin(x, [12])],
        outs: [out([12], EXACT)],
        call: (k, [s]) => k.clamp(s!, [12], lo, hi),
      });
    }
  }
  {
    const g = new Generator(500);
    const dy = randn(g, 35);
    const yRelu = randn(g, 35).map((v) => Math.max(v, 0));
    const ySig = uniform(g, 35, 0, 1);
    const yTanh = uniform(g, 35, -1, 1);
    add(F, 'reluBackward', ['reluBackward'], { inputs: [fin(dy, [5, 7]), fin(yRelu, [5, 7])], outs: [out([5, 7], EXACT)], call: (k, [a, b]) => k.reluBackward(a!, b!, [5, 7]) });
    add(F, 'sigmoidBackward', ['sigmoidBackward'], { inputs: [fin(dy, [5, 7]), fin(ySig, [5, 7])], outs: [out([5, 7])], call: (k, [a, b]) => k.sigmoidBackward(a!, b!, [5, 7]) });
    add(F, 'tanhBackward', ['tanhBackward'], { inputs: [fin(dy, [5, 7]), fin(yTanh, [5, 7])], outs: [out([5, 7])], call: (k, [a, b]) => k.tanhBackward(a!, b!, [5, 7]) });
    add(F, 'axpy alpha = -0.3', ['axpy'], { inputs: [fin(dy, [5, 7]), fin(ySig, [5, 7])], outs: [out([5, 7])], call: (k, [a, b]) => k.axpy(a!, b!, [5, 7], -0.3) });
  }
  {
    const x = Float32Array.from([0, -0, 1.9, -1.9, 2.5, -2.5, 1e6, -123.999, NaN, 0.4]);
    add(F, 'cast float32 -> int32 (truncation toward zero, NaN -> 0)', ['cast'], { inputs: [fin(x, [10])], outs: [iout([10])], call: (k, [s]) => k.cast(s!, [10], 'int32') });
    const xi = Int32Array.from([0, -1, 7, 16777217, -2147483648, 42]);
    add(F, 'cast int32 -> float32', ['cast'], { inputs: [iin(xi, [6])], outs: [out([6], EXACT)], call: (k, [s]) => k.cast(s!, [6], 'float32') });
    add(F, 'cast identity float32 and int32 (fresh copies)', ['cast'], {
      inputs: [fin(x, [10]), iin(xi, [6])],
      outs: [out([10], EXACT), iout([6])],
      call: (k, [a, b]) => [k.cast(a!, [10], 'float32'), k.cast(b!, [6], 'int32')],
    });
  }
}

// ---- reductions -----------------------------------------------------------------------------
{
  const F = 'reductions';
  const rcases: [Shape, number[]][] = [
    [[3, 5, 7], [1]],
    [[3, 5, 7], [0, 2]],
    [[3, 5, 7], [0, 1, 2]],
    [[2, 3, 4, 5], [1, 3]],
    [[4, 1000], [1]],
    [[300, 2], [0]],
  ];
  rcases.forEach(([shape, axes], ci) => {
    for (const op of ['sum', 'mean', 'max', 'min'] as const) {
      const g = new Generator(600 + ci * 4);
      const x = op === 'max' || op === 'min' ? smallInts(g, numel(shape), -3, 4) : randn(g, numel(shape));
      const R = axes.reduce((a, d) => a * shape[d]!, 1);
      const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
      add(F, `reduce ${op} ${sh(shape)} axes [${axes}]`, ['reduce'], {
        inputs: [fin(x, shape)],
        outs: [out(outShape, op === 'sum' ? sumTol(R) : F32)],
        call: (k, [s]) => k.reduce(op, s!, shape, axes),
      });
    }
  });
  {
    const x = Float32Array.from([1, NaN, 3, -1, 2, 0, 5, 4, -Infinity, 2, 1, 0]);
    for (const op of ['sum', 'max', 'min'] as const) {
      add(F, `reduce ${op} with NaN in one row [2, 6] axes [1] (NaN propagates)`, ['reduce'], {
        inputs: [fin(x, [2, 6])],
        outs: [out([2, 1])],
        call: (k, [s]) => k.reduce(op, s!, [2, 6], [1]),
      });
    }
  }
  add(F, 'reduce of an empty axis [0, 3] axes [0]: sum 0, mean NaN, max -Inf, min +Inf', ['reduce'], {
    inputs: [fin(new Float32Array(0), [0, 3])],
    outs: [out([1, 3], EXACT), out([1, 3], EXACT), out([1, 3], EXACT), out([1, 3], EXACT)],
    call: (k, [s]) => (['sum', 'mean', 'max', 'min'] as const).map((op) => k.reduce(op, s!, [0, 3], [0])),
  });
  for (let axis = 0; axis < 3; axis++) {
    const g = new Generator(650 + axis);
    add(F, `argmax axis ${axis} of [3,5,7] with ties (first max wins)`, ['argmax'], {
      inputs: [fin(smallInts(g, 105, 0, 3), [3, 5, 7])],
      outs: [iout([3, 5, 7].map((d, i) => (i === axis ? 1 : d)))],
      call: (k, [s]) => k.argmax(s!, [3, 5, 7], axis),
    });
  }
  add(F, 'argmax with NaN (NaN is maximal, first NaN wins) and int32 input', ['argmax'], {
    inputs: [fin(Float32Array.from([1, NaN, 3, NaN, 0, 5, 5, 2]), [2, 4]), iin(Int32Array.from([3, 9, 9, -1, 4, 4, 0, 4]), [2, 4])],
    outs: [iout([2, 1]), iout([2, 1])],
    call: (k, [a, b]) => [k.argmax(a!, [2, 4], 1), k.argmax(b!, [2, 4], 1)],
  });
}

// ---- layout ---------------------------------------------------------------------------------
{
  const F = 'layout';
  const g = new Generator(700);
  const x3 = randn(g, 24);
  for (const perm of [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]]) {
    add(F, `permute [2,3,4] by [${perm}]`, ['permute'], {
      inputs: [fin(x3, [2, 3, 4])],
      outs: [out(perm.map((p) => [2, 3, 4][p]!), EXACT)],
      call: (k, [s]) => k.permute(s!, [2, 3, 4], perm),
    });
  }
  const x4 = randn(g, 120);
  add(F, 'permute NCHW -> NHWC [2,3,4,5] and int32', ['permute'], {
    inputs: [fin(x4, [2, 3, 4, 5]), iin(randInt32(g, 24, -50, 50), [2, 3, 4])],
    outs: [out([2, 4, 5, 3], EXACT), iout([4, 2, 3])],
    call: (k, [a, b]) => [k.permute(a!, [2, 3, 4, 5], [0, 2, 3, 1]), k.permute(b!, [2, 3, 4], [2, 0, 1])],
  });
  const x456 = randn(g, 120);
  add(F, 'slice [4,5,6] at [1,0,2] size [2,5,3]; pad it back; int32 slice', ['slice', 'pad'], {
    inputs: [fin(x456, [4, 5, 6]), iin(randInt32(g, 120, -9, 9), [4, 5, 6])],
    outs: [out([2, 5, 3], EXACT), out([4, 5, 6], EXACT), iout([1, 2, 6])],
    call: (k, [a, b]) => {
      const s = k.slice(a!, [4, 5, 6], [1, 0, 2], [2, 5, 3]);
      return [s, k.pad(s, [2, 5, 3], [1, 0, 2], [4, 5, 6]), k.slice(b!, [4, 5, 6], [3, 2, 0], [1, 2, 6])];
    },
  });
  add(F, 'pad int32 (rank 2)', ['pad'], {
    inputs: [iin(Int32Array.from([1, 2, 3, 4, 5, 6]), [2, 3])],
    outs: [iout([4, 5])],
    call: (k, [a]) => k.pad(a!, [2, 3], [1, 2], [4, 5]),
  });
  for (let axis = 0; axis < 3; axis++) {
    const shapes = [[2, 3, 4], [2, 3, 4], [2, 3, 4]].map((s, j) => s.map((d, i) => (i === axis ? d + j : d)));
    const parts = shapes.map((s) => fin(randn(g, numel(s)), s));
    const outShape = shapes[0]!.map((d, i) => (i === axis ? shapes.reduce((a, s) => a + s[i]!, 0) : d));
    add(F, `cat of three parts along axis ${axis}`, ['cat'], {
      inputs: parts,
      outs: [out(outShape, EXACT)],
      call: (k, ss) => k.cat(ss, shapes, axis),
    });
  }
  add(F, 'cat int32 along the last axis', ['cat'], {
    inputs: [iin(Int32Array.from([1, 2, 3, 4]), [2, 2]), iin(Int32Array.from([5, 6]), [2, 1])],
    outs: [iout([2, 3])],
    call: (k, ss) => k.cat(ss, [[2, 2], [2, 1]], 1),
  });
  {
    const idx = Int32Array.from([2, 0, 2, 3, 2]);
    for (const axis of [0, 1, 2]) {
      const shape = [4, 4, 4];
      const dyShape = shape.map((d, i) => (i === axis ? 5 : d));
      add(F, `indexSelect / indexAdd along axis ${axis} with repeated indices`, ['indexSelect', 'indexAdd'], {
        inputs: [fin(randn(g, 64), shape), iin(idx, [5]), fin(randn(g, 80), dyShape)],
        outs: [out(dyShape, EXACT), out(shape)],
        call: (k, [x, i, dy]) => [k.indexSelect(x!, shape, axis, i!, 5), k.indexAdd(dy!, dyShape, axis, i!, shape)],
      });
    }
    add(F, 'indexSelect of int32 data', ['indexSelect'], {
      inputs: [iin(Int32Array.from([10, 11, 12, 13, 14, 15]), [3, 2]), iin(Int32Array.from([2, 2, 0]), [3])],
      outs: [iout([3, 2])],
      call: (k, [x, i]) => k.indexSelect(x!, [3, 2], 0, i!, 3),
    });
  }
  {
    const t = Int32Array.from([0, 3, 3, 1, 0]);
    add(F, 'gatherRows / scatterRows [5, 4] (repeated targets, first and last class)', ['gatherRows', 'scatterRows'], {
      inputs: [fin(randn(g, 20), [5, 4]), iin(t, [5]), fin(randn(g, 5), [5])],
      outs: [out([5], EXACT), out([5, 4], EXACT)],
      call: (k, [x, tt, dy]) => [k.gatherRows(x!, [5, 4], tt!), k.scatterRows(dy!, [5, 4], tt!)],
    });
  }
  add(F, 'indexSelect with an out-of-range index fails with a message naming the index', ['indexSelect'], {
    inputs: [fin(randn(g, 6), [3, 2]), iin(Int32Array.from([0, 3]), [2])],
    outs: [out([2, 2])],
    call: (k, [x, i]) => k.indexSelect(x!, [3, 2], 0, i!, 2),
    expectError: /index 3 is out of range \[0, 3\)/,
  });
  add(F, 'gatherRows with a negative target fails with a message naming it', ['gatherRows'], {
    inputs: [fin(randn(g, 6), [3, 2]), iin(Int32Array.from([0, -1, 1]), [3])],
    outs: [out([3])],
    call: (k, [x, t]) => k.gatherRows(x!, [3, 2], t!),
    expectError: /index -1 is out of range \[0, 2\)/,
  });
}

// ---- linear algebra -------------------------------------------------------------------------
{
  const F = 'linear algebra';
  const mm: [number, number, number, number, number, boolean][] = [
    [2, 2, 17, 9, 33, true],
    [3, 1, 70, 33, 65, true],
    [1, 2, 5, 7, 3, false],
    [1, 1, 4, 2500, 3, false],
    [2, 1, 3, 0, 4, false],
  ];
  mm.forEach(([Ba, Bb, M, K, N, allTrans], ci) => {
    const combos = allTrans ? [[false, false], [true, false], [false, true], [true, true]] : [[false, false], [true, true]];
    for (const [tA, tB] of combos) {
      const g = new Generator(800 + ci * 4 + (tA ? 2 : 0) + (tB ? 1 : 0));
      const aS = tA ? [Ba, K, M] : [Ba, M, K];
      const bS = tB ? [Bb, N, K] : [Bb, K, N];
      add(F, `matmul Ba=${Ba} Bb=${Bb} M=${M} K=${K} N=${N}${tA ? ' transA' : ''}${tB ? ' transB' : ''}`, ['matmul'], {
        inputs: [fin(randn(g, numel(aS)), aS), fin(randn(g, numel(bS)), bS)],
        outs: [out([Math.max(Ba, Bb), M, N], sumTol(K))],
        call: (k, [a, b]) => k.matmul(a!, aS, b!, bS, tA!, tB!),
      });
    }
  });
  const lin: [number, number, number][] = [
    [5, 7, 3],
    [70, 40, 65],
    [3000, 8, 4],
  ];
  lin.forEach(([N, I, O], ci) => {
    for (const [bias, needDx] of [[true, true], [false, true], [true, false]] as const) {
      const g = new Generator(900 + ci * 4 + (bias ? 2 : 0) + (needDx ? 1 : 0));
      add(F, `linear + linearBackward N=${N} I=${I} O=${O}${bias ? ' bias' : ''}${needDx ? '' : ' (no dx)'}`, ['linear', 'linearBackward'], {
        inputs: [fin(randn(g, N * I), [N, I]), fin(randn(g, O * I), [O, I]), fin(randn(g, O), [O]), fin(randn(g, N * O), [N, O])],
        outs: [out([N, O], sumTol(I)), needDx ? out([N, I], sumTol(O), 'dx') : null, out([O, I], sumTol(N), 'dw'), bias ? out([O], sumTol(N), 'db') : null],
        call: (k, [x, w, b, dy]) => {
          const y = k.linear(x!, [N, I], w!, [O, I], bias ? b! : null);
          const r = k.linearBackward(dy!, x!, [N, I], w!, [O, I], bias, needDx);
          return [y, r.dx, r.dw, r.db];
        },
      });
    }
  });
}

// ---- convolution ----------------------------------------------------------------------------
{
  const F = 'convolution';
  const P = (s: [number, number], p: [number, number], d: [number, number], groups: number): Conv2dParams => ({ stride: s, padding: p, dilation: d, groups });
  const convs: [string, Shape, Shape, Conv2dParams][] = [
    ['3x3 pad 1', [2, 3, 9, 9], [4, 3, 3, 3], P([1, 1], [1, 1], [1, 1], 1)],
    ['3x3 stride 2 pad 1, odd width', [2, 4, 9, 10], [6, 4, 3, 3], P([2, 2], [1, 1], [1, 1], 1)],
    ['3x3 dilation 2 pad 2', [1, 3, 11, 11], [4, 3, 3, 3], P([1, 1], [2, 2], [2, 2], 1)],
    ['groups 2', [2, 4, 7, 7], [6, 2, 3, 3], P([1, 1], [0, 0], [1, 1], 2)],
    ['depthwise (groups = channels)', [1, 4, 8, 8], [4, 1, 3, 3], P([1, 1], [1, 1], [1, 1], 4)],
    ['1x1', [2, 8, 5, 5], [6, 8, 1, 1], P([1, 1], [0, 0], [1, 1], 1)],
    ['5x5 pad 2 (LeNet)', [2, 1, 12, 12], [6, 1, 5, 5], P([1, 1], [2, 2], [1, 1], 1)],
    ['11x11 stride 4 pad 2 (AlexNet)', [1, 3, 23, 23], [4, 3, 11, 11], P([4, 4], [2, 2], [1, 1], 1)],
    ['asymmetric 2x3 kernel, stride [2,1], padding [0,1], dilation [1,2]', [1, 2, 7, 9], [3, 2, 2, 3], P([2, 1], [0, 1], [1, 2], 1)],
    ['long weight-gradient reduction (batch 8, 24x24)', [8, 2, 24, 24], [3, 2, 3, 3], P([1, 1], [1, 1], [1, 1], 1)],
  ];
  convs.forEach(([name, xS, wS, p], ci) => {
    const yS = [xS[0]!, wS[0]!, outSize(xS[2]!, wS[2]!, p.stride[0], p.padding[0], p.dilation[0]), outSize(xS[3]!, wS[3]!, p.stride[1], p.padding[1], p.dilation[1])];
    const K = wS[1]! * wS[2]! * wS[3]!;
    const g = new Generator(1000 + ci);
    const x = randn(g, numel(xS));
    const w = randn(g, numel(wS));
    const b = randn(g, wS[0]!);
    const dy = randn(g, numel(yS));
    const Kd = (wS[0]! / p.groups) * wS[2]! * wS[3]!;
    const Kw = xS[0]! * yS[2]! * yS[3]!;
    add(F, `conv2d ${name}: forward with and without bias`, ['conv2d'], {
      inputs: [fin(x, xS), fin(w, wS), fin(b, [wS[0]!])],
      outs: [out(yS, sumTol(K), 'y+b'), out(yS, sumTol(K), 'y')],
      call: (k, [sx, sw, sb]) => [k.conv2d(sx!, xS, sw!, wS, sb!, p, yS), k.conv2d(sx!, xS, sw!, wS, null, p, yS)],
    });
    add(F, `conv2d ${name}: backward data`, ['conv2dBackwardData'], {
      inputs: [fin(dy, yS), fin(w, wS)],
      outs: [out(xS, sumTol(Kd))],
      call: (k, [sdy, sw]) => k.conv2dBackwardData(sdy!, yS, sw!, wS, xS, p),
    });
    add(F, `conv2d ${name}: backward weights (with db) and without bias`, ['conv2dBackwardWeights'], {
      inputs: [fin(dy, yS), fin(x, xS)],
      outs: [out(wS, sumTol(Kw), 'dw'), out([wS[0]!], sumTol(Kw), 'db'), out(wS, sumTol(Kw), 'dw (no bias)')],
      call: (k, [sdy, sx]) => {
        const r1 = k.conv2dBackwardWeights(sdy!, yS, sx!, xS, wS, true, p);
        const r2 = k.conv2dBackwardWeights(sdy!, yS, sx!, xS, wS, false, p);
        if (r2.db !== null) throw new Error('conv2dBackwardWeights without bias returned a db');
        return [r1.dw, r1.db, r2.dw];
      },
    });
  });
}

// ---- pooling --------------------------------------------------------------------------------
{
  const F = 'pooling';
  const pool = (shape: Shape, k: [number, number], s: [number, number], p: [number, number], countIncludePad = true): Pool2dParams => ({
    kernel: k,
    stride: s,
    padding: p,
    countIncludePad,
    out: [outSize(shape[2]!, k[0], s[0], p[0]), outSize(shape[3]!, k[1], s[1], p[1])],
  });
  const maxes: [Shape, Pool2dParams][] = [
    [[2, 3, 9, 9], pool([2, 3, 9, 9], [3, 3], [2, 2], [0, 0])],
    [[1, 2, 8, 8], pool([1, 2, 8, 8], [2, 2], [2, 2], [0, 0])],
    [[1, 3, 7, 7], pool([1, 3, 7, 7], [3, 3], [1, 1], [1, 1])],
    [[2, 2, 7, 9], pool([2, 2, 7, 9], [2, 3], [2, 1], [1, 1])],
  ];
  maxes.forEach(([shape, p], ci) => {
    const g = new Generator(1100 + ci);
    const ys = [shape[0]!, shape[1]!, ...p.out];
    add(F, `maxPool2d forward + backward ${sh(shape)} k${p.kernel} s${p.stride} p${p.padding}`, ['maxPool2d', 'maxPool2dBackward'], {
      inputs: [fin(distinct(g, numel(shape), 8), shape), fin(randn(g, numel(ys)), ys)],
      outs: [out(ys, EXACT, 'y'), out(shape, F32, 'dx')],
      call: (k, [x, dy]) => {
        const r = k.maxPool2d(x!, shape, p);
        try {
          return [r.y, k.maxPool2dBackward(dy!, x!, r.y, r.workspace, shape, p)];
        } finally {
          if (r.workspace !== null) k.dispose(r.workspace);
        }
      },
    });
  });
  {
    const [shape, p] = maxes[0]!;
    const g = new Generator(1150);
    const ys = [shape[0]!, shape[1]!, ...p.out];
    add(F, 'maxPool2dBackward without the workspace (recomputed from x)', ['maxPool2dBackward'], {
      inputs: [fin(distinct(g, numel(shape), 8), shape), fin(randn(g, numel(ys)), ys)],
      outs: [out(shape)],
      call: (k, [x, dy]) => {
        const r = k.maxPool2d(x!, shape, p);
        try {
          return k.maxPool2dBackward(dy!, x!, r.y, null, shape, p);
        } finally {
          k.dispose(r.y);
          if (r.workspace !== null) k.dispose(r.workspace);
        }
      },
    });
  }
  const avgs: [Shape, [number, number], [number, number], [number, number]][] = [
    [[2, 3, 9, 9], [3, 3], [2, 2], [1, 1]],
    [[1, 2, 7, 7], [2, 2], [2, 2], [0, 0]],
    [[1, 3, 5, 5], [5, 5], [1, 1], [2, 2]],
  ];
  avgs.forEach(([shape, kk, s, pd], ci) => {
    for (const cip of [true, false]) {
      const p = pool(shape, kk, s, pd, cip);
      const g = new Generator(1200 + ci * 2 + (cip ? 1 : 0));
      const ys = [shape[0]!, shape[1]!, ...p.out];
      add(F, `avgPool2d forward + backward ${sh(shape)} k${kk} s${s} p${pd} countIncludePad=${cip}`, ['avgPool2d', 'avgPool2dBackward'], {
        inputs: [fin(randn(g, numel(shape)), shape), fin(randn(g, numel(ys)), ys)],
        outs: [out(ys, F32, 'y'), out(shape, F32, 'dx')],
        call: (k, [x, dy]) => [k.avgPool2d(x!, shape, p), k.avgPool2dBackward(dy!, shape, p)],
      });
    }
  });
  const adaptive: [Shape, [number, number]][] = [
    [[2, 3, 7, 7], [1, 1]],
    [[1, 2, 13, 11], [2, 3]],
    [[1, 2, 5, 7], [3, 2]],
    [[1, 2, 3, 3], [5, 5]],
  ];
  adaptive.forEach(([shape, o], ci) => {
    const g = new Generator(1300 + ci);
    const ys = [shape[0]!, shape[1]!, ...o];
    add(F, `adaptiveAvgPool2d forward + backward ${sh(shape)} -> ${o}`, ['adaptiveAvgPool2d', 'adaptiveAvgPool2dBackward'], {
      inputs: [fin(randn(g, numel(shape)), shape), fin(randn(g, numel(ys)), ys)],
      outs: [out(ys, F32, 'y'), out(shape, F32, 'dx')],
      call: (k, [x, dy]) => [k.adaptiveAvgPool2d(x!, shape, o), k.adaptiveAvgPool2dBackward(dy!, shape, o)],
    });
  });
}

// ---- normalization --------------------------------------------------------------------------
{
  const F = 'batch norm';
  const bns: [Shape, number, boolean][] = [
    [[8, 5], 1e-5, false],
    [[4, 3, 5, 5], 1e-5, false],
    [[8, 2, 30, 30], 1e-5, false],
    [[4, 3, 5, 5], 1e-3, true],
  ];
  bns.forEach(([shape, eps, constant], ci) => {
    const g = new Generator(1400 + ci);
    const C = shape[1]!;
    const x = randn(g, numel(shape), 2, 0.5);
    if (constant) {
      // channel 1 constant: variance 0, x̂ = 0
      const S = numel(shape) / (shape[0]! * C);
      for (let n = 0; n < shape[0]!; n++) for (let s = 0; s < S; s++) x[(n * C + 1) * S + s] = 0.75;
    }
    const gamma = uniform(g, C, 0.5, 1.5);
    const beta = randn(g, C);
    const rm = randn(g, C, 0.2);
    const rv = uniform(g, C, 0.5, 2);
    const dy = randn(g, numel(shape));
    const m = numel(shape) / C;
    add(F, `batchNormTrain / Inference / Backward ${sh(shape)} eps ${eps}${constant ? ' (a constant channel)' : ''}`, ['batchNormTrain', 'batchNormInference', 'batchNormBackward'], {
      inputs: [fin(x, shape), fin(gamma, [C]), fin(beta, [C]), fin(rm, [C]), fin(rv, [C]), fin(dy, shape)],
      outs: [
        out(shape, { atol: 1e-4, rtol: 1e-4 }, 'y'),
        out([C], sumTol(m), 'mean'),
        out([C], sumTol(m), 'var'),
        out(shape, F32, 'y (inference)'),
        out(shape, { atol: 2e-4, rtol: 1e-3 }, 'dx'),
        out([C], sumTol(m), 'dgamma'),
        out([C], sumTol(m), 'dbeta'),
      ],
      call: (k, [sx, sg, sb, srm, srv, sdy]) => {
        const r = k.batchNormTrain(sx!, shape, sg!, sb!, eps);
        const yi = k.batchNormInference(sx!, shape, sg!, sb!, srm!, srv!, eps);
        const gr = k.batchNormBackward(sdy!, sx!, shape, sg!, r.mean, r.var, eps);
        return [r.y, r.mean, r.var, yi, gr.dx, gr.dgamma, gr.dbeta];
      },
    });
  });
}

// ---- softmax --------------------------------------------------------------------------------
{
  const F = 'softmax';
  const sms: [Shape, number][] = [
    [[4, 10], 1],
    [[3, 4, 5], 1],
    [[2, 300], 1],
    [[300, 3], 0],
  ];
  sms.forEach(([shape, axis], ci) => {
    for (const log of [false, true]) {
      const g = new Generator(1500 + ci * 2 + (log ? 1 : 0));
      const x = randn(g, numel(shape), 3);
      x[1] = -Infinity; // a masked position
      const dy = randn(g, numel(shape));
      const name = log ? 'logSoftmax' : 'softmax';
      add(F, `${name} forward + backward ${sh(shape)} axis ${axis} (one -Infinity entry)`, ['softmax', 'softmaxBackward'], {
        inputs: [fin(x, shape), fin(dy, shape)],
        outs: [out(shape, F32, 'y'), out(shape, F32, 'dx')],
        call: (k, [sx, sdy]) => {
          const y = k.softmax(sx!, shape, axis, log);
          return [y, k.softmaxBackward(sdy!, y, shape, axis, log)];
        },
      });
    }
  });
  for (const log of [false, true]) {
    const x = Float32Array.from([1, 2, NaN, 0, 1, Infinity, 0, 1, 2, -Infinity, -Infinity, -Infinity, 100, 1000, -1000, 0]);
    add(F, `${log ? 'logSoftmax' : 'softmax'} rows with NaN, +Inf, all -Inf (NaN) and large logits`, ['softmax'], {
      inputs: [fin(x, [4, 4])],
      outs: [out([4, 4])],
      call: (k, [s]) => k.softmax(s!, [4, 4], 1, log),
    });
  }
}

// ---- resampling -----------------------------------------------------------------------------
{
  const F = 'resize';
  const rs: [Shape, [number, number]][] = [
    [[1, 2, 5, 7], [10, 14]],
    [[2, 1, 8, 8], [3, 5]],
    [[1, 1, 4, 4], [7, 9]],
    [[1, 2, 6, 6], [6, 6]],
  ];
  rs.forEach(([shape, o], ci) => {
    const g = new Generator(1600 + ci);
    const ys = [shape[0]!, shape[1]!, ...o];
    add(F, `resizeBilinear forward + backward ${sh(shape)} -> ${o}`, ['resizeBilinear', 'resizeBilinearBackward'], {
      inputs: [fin(randn(g, numel(shape)), shape), fin(randn(g, numel(ys)), ys)],
      outs: [out(ys, F32, 'y'), out(shape, F32, 'dx')],
      call: (k, [x, dy]) => [k.resizeBilinear(x!, shape, o), k.resizeBilinearBackward(dy!, shape, o)],
    });
  });
}

// ---- fused optimizer updates ----------------------------------------------------------------
{
  const F = 'optimizer updates';
  const shapes: Shape[] = [[3, 4], [5]];
  const sgd = (over: Partial<SgdHyper>): SgdHyper => ({ lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, ...over });
  const sgds: [string, SgdHyper, boolean][] = [
    ['plain, weight decay 0.01', sgd({ weightDecay: 0.01 }), false],
    ['momentum 0.9, first step (new buffers)', sgd({ momentum: 0.9 }), false],
    ['momentum 0.9, dampening 0.1, later step', sgd({ momentum: 0.9, dampening: 0.1 }), true],
    ['Nesterov, weight decay, maximize', sgd({ momentum: 0.8, nesterov: true, weightDecay: 0.05, maximize: true }), true],
  ];
  sgds.forEach(([name, h, withBufs], ci) => {
    const g = new Generator(1700 + ci);
    const inputs: CaseIn[] = [];
    for (const s of shapes) inputs.push(fin(randn(g, numel(s)), s), fin(randn(g, numel(s)), s), fin(randn(g, numel(s), 0.5), s));
    const momentum = h.momentum !== 0;
    add(F, `sgdStep ${name} (two parameters, in place)`, ['sgdStep'], {
      inputs,
      outs: momentum ? shapes.map((s) => out(s, F32, 'buf')) : [],
      readInputs: shapes.map((s, j) => ({ index: j * 3, out: out(s, F32, `param ${j}`) })),
      allowInputResults: withBufs,
      call: (k, ss) => {
        const params = shapes.map((_, j) => ss[j * 3]!);
        const grads = shapes.map((_, j) => ss[j * 3 + 1]!);
        const bufs = shapes.map((_, j) => (withBufs ? ss[j * 3 + 2]! : null));
        const r = k.sgdStep(params, grads, bufs, shapes, h);
        if (!withBufs) for (let j = 0; j < shapes.length; j++) k.dispose(ss[j * 3 + 2]!);
        return r;
      },
    });
  });
  const adam = (over: Partial<AdamHyper>): AdamHyper => ({ lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false, maximize: false, step: 1, ...over });
  const adams: [string, AdamHyper][] = [
    ['step 1', adam({})],
    ['step 3, L2 weight decay 0.1', adam({ step: 3, weightDecay: 0.1 })],
    ['step 7, AdamW (decoupled 0.1), maximize', adam({ step: 7, weightDecay: 0.1, decoupled: true, maximize: true })],
  ];
  adams.forEach(([name, h], ci) => {
    const g = new Generator(1800 + ci);
    const inputs: CaseIn[] = [];
    for (const s of shapes) inputs.push(fin(randn(g, numel(s)), s), fin(randn(g, numel(s)), s), fin(randn(g, numel(s), 0.1), s), fin(uniform(g, numel(s), 0, 0.05), s));
    add(F, `adamStep ${name} (two parameters, in place)`, ['adamStep'], {
      inputs,
      outs: [],
      readInputs: shapes.flatMap((s, j) => [
        { index: j * 4, out: out(s, { atol: 1e-5, rtol: 1e-4 }, `param ${j}`) },
        { index: j * 4 + 2, out: out(s, F32, `exp_avg ${j}`) },
        { index: j * 4 + 3, out: out(s, F32, `exp_avg_sq ${j}`) },
      ]),
      call: (k, ss) => {
        k.adamStep(
          shapes.map((_, j) => ss[j * 4]!),
          shapes.map((_, j) => ss[j * 4 + 1]!),
          shapes.map((_, j) => ss[j * 4 + 2]!),
          shapes.map((_, j) => ss[j * 4 + 3]!),
          shapes,
          h,
        );
        return [];
      },
    });
  });
}

/** Every conformance case. */
export const KERNEL_CASES: readonly KernelCase[] = cases;

export type { Kernels, Storage };
