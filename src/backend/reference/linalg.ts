/** Matrix kernels: batched matmul and the fully connected layer. Dot products accumulate in doubles. */
import type { Shape, Storage } from '../kernels.js';
import { allocFloat, fl, wrap, wrapAcc } from './storage.js';

/**
 * Batched C = A·B: a is [Ba, M, K] (stored [Ba, K, M] when transA), b is [Bb, K, N] (stored
 * [Bb, N, K] when transB), result [max(Ba, Bb), M, N]; a batch of 1 on either side broadcasts.
 * Transposes are handled through element strides, so there is one loop nest for all four cases.
 */
export function matmul(a: Storage, aShape: Shape, b: Storage, bShape: Shape, transA: boolean, transB: boolean): Storage {
  const ad = fl(a);
  const bd = fl(b);
  const [ba, a1, a2] = [aShape[0]!, aShape[1]!, aShape[2]!];
  const [bb, b1, b2] = [bShape[0]!, bShape[1]!, bShape[2]!];
  const M = transA ? a2 : a1;
  const K = transA ? a1 : a2;
  const N = transB ? b1 : b2;
  const batch = Math.max(ba, bb);
  // Strides of A(i, k) and B(k, j) in their stored layouts.
  const aSi = transA ? 1 : K;
  const aSk = transA ? M : 1;
  const bSk = transB ? 1 : N;
  const bSj = transB ? K : 1;
  const out = allocFloat(a, batch * M * N);
  const row = new Float64Array(N);
  for (let p = 0; p < batch; p++) {
    const aOff = (ba === 1 ? 0 : p) * M * K;
    const bOff = (bb === 1 ? 0 : p) * K * N;
    for (let i = 0; i < M; i++) {
      // i-k-j order: one row of C accumulates while B is read along its rows.
      row.fill(0);
      for (let k = 0; k < K; k++) {
        const aik = ad[aOff + i * aSi + k * aSk]!;
        const bRow = bOff + k * bSk;
        for (let j = 0; j < N; j++) row[j] += aik * bd[bRow + j * bSj]!;
      }
      const cOff = (p * M + i) * N;
      for (let j = 0; j < N; j++) out[cOff + j] = row[j]!;
    }
  }
  return wrap(out);
}

/** y = x W^T + b: x [N, I], w [O, I], b [O] or null -> [N, O]. */
export function linear(x: Storage, xShape: Shape, w: Storage, wShape: Shape, b: Storage | null): Storage {
  const xd = fl(x);
  const wd = fl(w);
  const bd = b === null ? null : fl(b);
  const [N, I] = [xShape[0]!, xShape[1]!];
  const O = wShape[0]!;
  const y = allocFloat(x, N * O);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      let s = bd === null ? 0 : bd[o]!;
      for (let i = 0; i < I; i++) s += xd[n * I + i]! * wd[o * I + i]!;
      y[n * O + o] = s;
    }
  }
  return wrap(y);
}

/** Gradients of `linear`: dx = dy W [N, I], dw = dy^T x [O, I], db = column sums of dy [O]. */
export function linearBackward(
  dy: Storage,
  x: Storage,
  xShape: Shape,
  w: Storage,
  wShape: Shape,
  hasBias: boolean,
  needDx: boolean,
): { dx: Storage | null; dw: Storage; db: Storage | null } {
  const g = fl(dy);
  const xd = fl(x);
  const wd = fl(w);
  const [N, I] = [xShape[0]!, xShape[1]!];
  const O = wShape[0]!;

  let dx: Storage | null = null;
  if (needDx) {
    const acc = new Float64Array(N * I);
    for (let n = 0; n < N; n++) {
      for (let o = 0; o < O; o++) {
        const gno = g[n * O + o]!;
        for (let i = 0; i < I; i++) acc[n * I + i] += gno * wd[o * I + i]!;
      }
    }
    dx = wrapAcc(acc, dy.dtype);
  }

  const dwAcc = new Float64Array(O * I);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const gno = g[n * O + o]!;
      for (let i = 0; i < I; i++) dwAcc[o * I + i] += gno * xd[n * I + i]!;
    }
  }
  const dw = wrapAcc(dwAcc, dy.dtype);

  let db: Storage | null = null;
  if (hasBias) {
    const acc = new Float64Array(O);
    for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) acc[o] += g[n * O + o]!;
    db = wrapAcc(acc, dy.dtype);
  }
  return { dx, dw, db };
}
