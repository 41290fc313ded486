/** Linear algebra: matmul (torch.matmul semantics) and linear (x W^T + b). Both are bf16 under autocast. */
import type { Kernels, Shape, Storage } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import { broadcastShapes, fmt, numel, sameShape } from '../tensor/shape.js';
import { noGrad } from '../autograd/grad-mode.js';
import { defineOp } from './op.js';
import { attr } from './onnx-api.js';
import { broadcastTo, reshape, sumTo } from './shape.js';
import { installMethods } from './method.js';

interface MatmulParams {
  out: number[];
  a2: number[];
  b2: number[];
  batch: number[];
  M: number;
  K: number;
  N: number;
}

/**
 * A [B, r, c] storage for an operand of 2-D-promoted shape `shape2` ([...batch, r, c]) against the
 * full batch shape `batch`: batch 1 when the operand has no batch, its own batch when it already
 * equals `batch`, otherwise a broadcast copy. The caller disposes the result.
 */
function as3(k: Kernels, s: Storage, shape: Shape, shape2: Shape, batch: Shape): { s: Storage; shape: [number, number, number] } {
  const r = shape2[shape2.length - 2]!;
  const c = shape2[shape2.length - 1]!;
  const own = shape2.slice(0, -2);
  if (numel(own) === 1 || sameShape(own, batch)) {
    const s3: [number, number, number] = [numel(own), r, c];
    return { s: k.reshape(s, shape, s3), shape: s3 };
  }
  const full = [...batch, r, c];
  const src = new Tensor(k.reshape(s, shape, shape2), shape2, s.dtype, k);
  const t = noGrad(() => broadcastTo(src, full));
  const s3: [number, number, number] = [numel(batch), r, c];
  const out = k.reshape(t.storage, full, s3);
  t.dispose();
  src.dispose();
  return { s: out, shape: s3 };
}

/**
 * Matrix product with `torch.matmul` rules: 1-D operands are promoted (and the added dim removed),
 * 2-D x 2-D is a plain product, and leading batch dims broadcast.
 * @example matmul(randn([10, 1, 3, 4]), randn([5, 4, 2])) // [10, 5, 3, 2]
 */
export const matmul = defineOp({
  name: 'matmul',
  kernel: 'matmul',
  autocast: 'lower',
  setup: (a: Tensor, b: Tensor) => {
    if (!(a instanceof Tensor) || !(b instanceof Tensor)) return { inputs: [a, b], params: null as unknown as MatmulParams, shape: [] };
    if (a.ndim === 0 || b.ndim === 0) {
      throw new Error(`matmul: both operands need at least one dim, got ${fmt(a.shape)} and ${fmt(b.shape)}`);
    }
    const a2 = a.ndim === 1 ? [1, a.shape[0]!] : [...a.shape];
    const b2 = b.ndim === 1 ? [b.shape[0]!, 1] : [...b.shape];
    const M = a2[a2.length - 2]!;
    const K = a2[a2.length - 1]!;
    const K2 = b2[b2.length - 2]!;
    const N = b2[b2.length - 1]!;
    if (K !== K2) throw new Error(`matmul: shapes ${fmt(a.shape)} and ${fmt(b.shape)} cannot be multiplied (${K} != ${K2})`);
    let batch: number[];
    try {
      batch = broadcastShapes(a2.slice(0, -2), b2.slice(0, -2), 'matmul');
    } catch {
      throw new Error(`matmul: batch dims of ${fmt(a.shape)} and ${fmt(b.shape)} cannot be broadcast together`);
    }
    const shape = [...batch];
    if (a.ndim > 1) shape.push(M);
    if (b.ndim > 1) shape.push(N);
    const params: MatmulParams = { out: shape, a2, b2, batch, M, K, N };
    return { inputs: [a, b], params, shape };
  },
  forward: (k, [a, b], p, c) => {
    const [sa, sb] = [a as Storage, b as Storage];
    const A = as3(k, sa, p.a2, p.a2, p.batch);
    c.tmp(A.s);
    const B = as3(k, sb, p.b2, p.b2, p.batch);
    c.tmp(B.s);
    const y = c.tmp(k.matmul(A.s, A.shape, B.s, B.shape, false, false));
    return k.reshape(y, [Math.max(A.shape[0], B.shape[0]), p.M, p.N], p.out);
  },
  backward: (gy, c) => {
    const [a, b] = c.inputs as [Tensor, Tensor];
    const { a2, b2, batch, M, K, N } = c.params;
    const gk = gy.kernels;
    const B = Math.max(numel(batch), 1);
    const g3: [number, number, number] = [B, M, N];
    const gs = gk.reshape(gy.storage, gy.shape, g3);
    const grads: (Tensor | null)[] = [null, null];
    // dA = G B^T, dB = A^T G (per batch), then summed over broadcast batch dims.
    try {
      if (c.needs[0]) {
        const Bx = as3(gk, b.storage, b.shape, b2, batch);
        const d = c.wrap(gk.matmul(gs, g3, Bx.s, Bx.shape, false, true), [B, M, K]);
        gk.dispose(Bx.s);
        grads[0] = reshape(sumTo(reshape(d, [...batch, M, K]), a2), a.shape);
      }
      if (c.needs[1]) {
        const Ax = as3(gk, a.storage, a.shape, a2, batch);
        const d = c.wrap(gk.matmul(Ax.s, Ax.shape, gs, g3, true, false), [B, K, N]);
        gk.dispose(Ax.s);
        grads[1] = reshape(sumTo(reshape(d, [...batch, K, N]), b2), b.shape);
      }
    } finally {
      gk.dispose(gs);
    }
    return grads;
  },
  saves: (needs) => ({ inputs: [...(needs[1] ? [0] : []), ...(needs[0] ? [1] : [])] }),
  onnx: (g) => g.node('MatMul', [g.name(g.inputs[0]!), g.name(g.inputs[1]!)]),
  flops: (p) => 2 * Math.max(numel(p.batch), 1) * p.M * p.K * p.N,
});

interface LinearParams {
  x2: [number, number];
  O: number;
  out: number[];
  xShape: Shape;
}

/**
 * y = x W^T + b with x [..., I], w [O, I], b [O] (optional): leading dims of x are flattened for the
 * `linear` kernel and restored in the output [..., O].
 * @example linear(h.reshape([N, -1]), w, b)
 */
export const linear = defineOp({
  name: 'linear',
  kernel: 'linear',
  autocast: 'lower',
  setup: (x: Tensor, w: Tensor, b?: Tensor | null) => {
    const bias = b ?? null;
    if (!(x instanceof Tensor) || !(w instanceof Tensor)) return { inputs: [x, w, bias], params: null as unknown as LinearParams, shape: [] };
    if (w.ndim !== 2) throw new Error(`linear: weight must be 2-D [out, in], got ${fmt(w.shape)}`);
    const [O, I] = [w.shape[0]!, w.shape[1]!];
    if (x.ndim === 0 || x.shape[x.ndim - 1] !== I) {
      throw new Error(`linear: input ${fmt(x.shape)} has ${x.shape[x.ndim - 1] ?? 0} features but weight ${fmt(w.shape)} expects ${I}`);
    }
    if (bias instanceof Tensor && (bias.ndim !== 1 || bias.shape[0] !== O)) {
      throw new Error(`linear: bias must have shape [${O}] for weight ${fmt(w.shape)}, got ${fmt(bias.shape)}`);
    }
    const lead = x.shape.slice(0, -1);
    const params: LinearParams = { x2: [numel(lead), I], O, out: [...lead, O], xShape: x.shape };
    return { inputs: [x, w, bias], params, shape: params.out };
  },
  forward: (k, [x, w, b], p, c) => {
    const xs = c.tmp(k.reshape(x as Storage, p.xShape, p.x2));
    const y = c.tmp(k.linear(xs, p.x2, w as Storage, [p.O, p.x2[1]], b as Storage | null));
    return k.reshape(y, [p.x2[0], p.O], p.out);
  },
  backward: (gy, c) => {
    const [x, w, bias] = c.inputs as [Tensor, Tensor, Tensor | null];
    const { x2, O, xShape } = c.params;
    const gk = gy.kernels;
    if (!c.needs[0] && !c.needs[1]) return [null, null, sumTo(gy, [O])]; // only the bias: sum the gradient over the rows
    const g2 = gk.reshape(gy.storage, gy.shape, [x2[0], O]);
    const x2s = gk.reshape(x.storage, xShape, x2);
    let r: { dx: Storage | null; dw: Storage; db: Storage | null };
    try {
      r = gk.linearBackward(g2, x2s, x2, w.storage, w.shape, bias !== null && c.needs[2]!, c.needs[0]!);
    } finally {
      gk.dispose(g2);
      gk.dispose(x2s);
    }
    let dx: Tensor | null = null;
    if (r.dx !== null) {
      dx = c.wrap(gk.reshape(r.dx, x2, xShape), xShape);
      gk.dispose(r.dx);
    }
    return [dx, c.wrap(r.dw, w.shape), r.db === null ? null : c.wrap(r.db, [O])];
  },
  saves: (needs) => ({ inputs: needs[0] || needs[1] ? [0, 1] : [] }),
  onnx: (g) => {
    const [x, w, bias] = g.inputs as [Tensor, Tensor, Tensor | null];
    if (x.ndim === 2) {
      const ins = [g.name(x), g.name(w)];
      if (bias !== null) ins.push(g.name(bias));
      return g.node('Gemm', ins, { transB: attr.int(1) });
    }
    const wT = g.inner('Transpose', [g.name(w)], { perm: attr.ints([1, 0]) });
    if (bias === null) return g.node('MatMul', [g.name(x), wT]);
    return g.node('Add', [g.inner('MatMul', [g.name(x), wT]), g.name(bias)]);
  },
  flops: (p) => 2 * p.x2[0] * p.x2[1] * p.O,
});

declare module '../tensor/tensor.js' {
  interface Tensor {
    matmul(other: Tensor): Tensor;
  }
}

installMethods({
  matmul(o: Tensor) {
    return matmul(this, o);
  },
});
