/** Linear algebra: matmul (torch.matmul semantics) and linear (x W^T + b). */
import type { Shape, Storage } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import { broadcastShapes, fmt, numel, sameShape } from '../tensor/shape.js';
import { noGrad } from '../autograd/grad-mode.js';
import { checkFloat, record, reshapeOwned, sameBackend, wrap } from './util.js';
import { broadcastTo, reshape, sumTo } from './shape.js';
import { traceOp, tracing } from './trace.js';

/**
 * A [B, r, c] storage for operand `t` of logical 2-D-promoted shape `shape2` ([...batch, r, c])
 * against the full batch shape `batch`: batch 1 when the operand has no batch, its own batch when it
 * already equals `batch`, otherwise a broadcast copy. The caller disposes the result.
 */
function as3(t: Tensor, shape2: Shape, batch: Shape): { s: Storage; shape: [number, number, number] } {
  const k = t.kernels;
  const r = shape2[shape2.length - 2]!;
  const c = shape2[shape2.length - 1]!;
  const own = shape2.slice(0, -2);
  const B = numel(batch);
  if (numel(own) === 1 || sameShape(own, batch)) {
    const s3: [number, number, number] = [numel(own), r, c];
    return { s: k.reshape(t.storage, t.shape, s3, 'float32'), shape: s3 };
  }
  const full = [...batch, r, c];
  const e = noGrad(() => broadcastTo(reshape(t, shape2), full));
  const s3: [number, number, number] = [B, r, c];
  const s = k.reshape(e.storage, full, s3, 'float32');
  e.dispose();
  return { s, shape: s3 };
}

/**
 * Matrix product with `torch.matmul` rules: 1-D operands are promoted (and the added dim removed),
 * 2-D x 2-D is a plain product, and leading batch dims broadcast.
 * @example matmul(randn([10, 1, 3, 4]), randn([5, 4, 2])) // [10, 5, 3, 2]
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const k = sameBackend('matmul', a, b);
  checkFloat('matmul', a, 'first operand');
  checkFloat('matmul', b, 'second operand');
  if (a.ndim === 0 || b.ndim === 0) {
    throw new Error(`matmul: both operands need at least one dim, got ${fmt(a.shape)} and ${fmt(b.shape)}`);
  }
  const a2 = a.ndim === 1 ? [1, a.shape[0]!] : [...a.shape];
  const b2 = b.ndim === 1 ? [b.shape[0]!, 1] : [...b.shape];
  const M = a2[a2.length - 2]!;
  const K = a2[a2.length - 1]!;
  const K2 = b2[b2.length - 2]!;
  const N = b2[b2.length - 1]!;
  if (K !== K2) {
    throw new Error(`matmul: shapes ${fmt(a.shape)} and ${fmt(b.shape)} cannot be multiplied (${K} != ${K2})`);
  }
  let batch: number[];
  try {
    batch = broadcastShapes(a2.slice(0, -2), b2.slice(0, -2), 'matmul');
  } catch {
    throw new Error(`matmul: batch dims of ${fmt(a.shape)} and ${fmt(b.shape)} cannot be broadcast together`);
  }
  const outShape = [...batch];
  if (a.ndim > 1) outShape.push(M);
  if (b.ndim > 1) outShape.push(N);

  const A = as3(a, a2, batch);
  const Bm = as3(b, b2, batch);
  let y: Storage;
  try {
    y = k.matmul(A.s, A.shape, Bm.s, Bm.shape, false, false);
  } finally {
    k.dispose(A.s);
    k.dispose(Bm.s);
  }
  const B = Math.max(A.shape[0], Bm.shape[0]);
  const out = wrap(k, reshapeOwned(k, y, [B, M, N], outShape, 'float32'), outShape);
  if (tracing.tracer !== null) traceOp('matmul', [a, b], out);

  return record('matmul', [a, b], out, (gy, needs) => {
    const gk = gy.kernels;
    const g3: [number, number, number] = [B, M, N];
    const gs = gk.reshape(gy.storage, gy.shape, g3, 'float32');
    const G = wrap(gk, gs, g3);
    const grads: (Tensor | null)[] = [null, null];
    // dA = G B^T, dB = A^T G (per batch), then summed over broadcast batch dims.
    if (needs[0]) {
      const Bx = as3(b, b2, batch);
      const d = wrap(gk, gk.matmul(G.storage, g3, Bx.s, Bx.shape, false, true), [B, M, K]);
      gk.dispose(Bx.s);
      grads[0] = reshape(sumTo(reshape(d, [...batch, M, K]), a2), a.shape);
    }
    if (needs[1]) {
      const Ax = as3(a, a2, batch);
      const d = wrap(gk, gk.matmul(Ax.s, Ax.shape, G.storage, g3, true, false), [B, K, N]);
      gk.dispose(Ax.s);
      grads[1] = reshape(sumTo(reshape(d, [...batch, K, N]), b2), b.shape);
    }
    return grads;
  });
}

/**
 * y = x W^T + b with x [..., I], w [O, I], b [O] (optional): leading dims of x are flattened for the
 * `linear` kernel and restored in the output [..., O].
 * @example linear(h.reshape([N, -1]), w, b)
 */
export function linear(x: Tensor, w: Tensor, b?: Tensor | null): Tensor {
  const k = sameBackend('linear', x, w, b);
  checkFloat('linear', x);
  checkFloat('linear', w, 'weight');
  if (b) checkFloat('linear', b, 'bias');
  if (w.ndim !== 2) throw new Error(`linear: weight must be 2-D [out, in], got ${fmt(w.shape)}`);
  const [O, I] = [w.shape[0]!, w.shape[1]!];
  if (x.ndim === 0 || x.shape[x.ndim - 1] !== I) {
    throw new Error(`linear: input ${fmt(x.shape)} has ${x.shape[x.ndim - 1] ?? 0} features but weight ${fmt(w.shape)} expects ${I}`);
  }
  if (b && (b.ndim !== 1 || b.shape[0] !== O)) {
    throw new Error(`linear: bias must have shape [${O}] for weight ${fmt(w.shape)}, got ${fmt(b.shape)}`);
  }
  const lead = x.shape.slice(0, -1);
  const Nrows = numel(lead);
  const x2: [number, number] = [Nrows, I];
  const outShape = [...lead, O];
  const xs = k.reshape(x.storage, x.shape, x2, 'float32');
  let y: Storage;
  try {
    y = k.linear(xs, x2, w.storage, w.shape, b ? b.storage : null);
  } finally {
    k.dispose(xs);
  }
  const out = wrap(k, reshapeOwned(k, y, [Nrows, O], outShape, 'float32'), outShape);
  const bias = b ?? null;
  if (tracing.tracer !== null) traceOp('linear', [x, w, bias], out);
  return record('linear', [x, w, bias], out, (gy, needs) => {
    const gk = gy.kernels;
    if (!needs[0] && !needs[1]) {
      // Only the bias: sum the gradient over the rows.
      return [null, null, sumTo(gy, [O])];
    }
    const g2 = gk.reshape(gy.storage, gy.shape, [Nrows, O], 'float32');
    const x2s = gk.reshape(x.storage, x.shape, x2, 'float32');
    let r: { dx: Storage | null; dw: Storage; db: Storage | null };
    try {
      r = gk.linearBackward(g2, x2s, x2, w.storage, w.shape, bias !== null && needs[2], needs[0]);
    } finally {
      gk.dispose(g2);
      gk.dispose(x2s);
    }
    const dx = r.dx === null ? null : wrap(gk, reshapeOwned(gk, r.dx, x2, x.shape, 'float32'), x.shape);
    return [dx, wrap(gk, r.dw, w.shape), r.db === null ? null : wrap(gk, r.db, [O])];
  });
}
