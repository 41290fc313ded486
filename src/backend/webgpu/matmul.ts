/**
 * Matrix kernels on the tiled GEMM core (gemm.ts): batched matmul with transposes and batch
 * broadcasting, the fully connected layer (bias added in the store) and its gradients.
 * Transposes are just strides in `load_a`/`load_b`, so no operand is ever copied.
 */
import type { Shape } from '../kernels.js';
import type { Runtime } from './runtime.js';
import type { GpuStorage } from './storage.js';
import { requireDType } from './elementwise.js';
import { gemmPlain, gemmStore, strided } from './gemm.js';
import { reduce } from './reduce.js';
import { storageBinding, u } from './wgsl.js';

const IN = (k: number, name: string): string => storageBinding(k, name, 'f32', false);

/** Batched C = A·B: a [Ba, M, K] ([Ba, K, M] when transA), b [Bb, K, N] ([Bb, N, K] when transB). */
export function matmul(rt: Runtime, a: GpuStorage, aShape: Shape, b: GpuStorage, bShape: Shape, transA: boolean, transB: boolean): GpuStorage {
  requireDType('matmul', a, ['float32']);
  requireDType('matmul', b, ['float32']);
  const [ba, a1, a2] = [aShape[0]!, aShape[1]!, aShape[2]!];
  const [bb, b1, b2] = [bShape[0]!, bShape[1]!, bShape[2]!];
  const M = transA ? a2 : a1;
  const K = transA ? a1 : a2;
  const N = transB ? b1 : b2;
  const batch = Math.max(ba, bb);
  const aSm = transA ? 1 : K;
  const aSk = transA ? M : 1;
  const bSk = transB ? 1 : N;
  const bSn = transB ? K : 1;
  const aOff = ba === 1 ? '0u' : `b * ${u(M * K)}`;
  const bOff = bb === 1 ? '0u' : `b * ${u(K * N)}`;
  return gemmPlain(
    rt,
    {
      name: `matmul${transA ? ' tA' : ''}${transB ? ' tB' : ''}`,
      M,
      N,
      K,
      batch,
      decls: `${IN(0, 'A')}\n${IN(1, 'B')}`,
      a: strided('A', `${aOff} + i * ${u(aSm)}`, `k * ${u(aSk)}`),
      b: strided('B', `${bOff} + i * ${u(bSn)}`, `k * ${u(bSk)}`),
      aContiguous: transA ? 'm' : 'k',
      bContiguous: transB ? 'k' : 'n',
    },
    [a, b],
  );
}

/** y = x W^T + b: x [N, I], w [O, I], b [O] or null -> [N, O]. */
export function linear(rt: Runtime, x: GpuStorage, xShape: Shape, w: GpuStorage, wShape: Shape, bias: GpuStorage | null): GpuStorage {
  requireDType('linear', x, ['float32']);
  requireDType('linear', w, ['float32']);
  const [N, I] = [xShape[0]!, xShape[1]!];
  const O = wShape[0]!;
  const y = rt.alloc('float32', N * O);
  const bindings: GpuStorage[] = bias === null ? [x, w, y] : [x, w, bias, y];
  const decls = `${IN(0, 'X')}\n${IN(1, 'W')}${bias === null ? '' : `\n${IN(2, 'BIAS')}`}`;
  const storeDecl = storageBinding(bias === null ? 2 : 3, 'Y', 'f32', true);
  if (N * O === 0) return y;
  gemmStore(
    rt,
    {
      name: 'linear',
      M: N,
      N: O,
      K: I,
      batch: 1,
      decls,
      a: strided('X', `i * ${u(I)}`, 'k'),
      b: strided('W', `i * ${u(I)}`, 'k'),
      aContiguous: 'k',
      bContiguous: 'k',
    },
    bindings,
    storeDecl,
    `  Y[m * ${u(O)} + n] = v${bias === null ? '' : ' + BIAS[n]'};`,
  );
  return y;
}

/** Gradients of `linear`: dx = dy W [N, I], dw = dy^T x [O, I], db = Σ_rows dy [O]. */
export function linearBackward(
  rt: Runtime,
  dy: GpuStorage,
  x: GpuStorage,
  xShape: Shape,
  w: GpuStorage,
  wShape: Shape,
  hasBias: boolean,
  needDx: boolean,
): { dx: GpuStorage | null; dw: GpuStorage; db: GpuStorage | null } {
  requireDType('linearBackward', dy, ['float32']);
  const [N, I] = [xShape[0]!, xShape[1]!];
  const O = wShape[0]!;
  const dx = needDx
    ? gemmPlain(
        rt,
        {
          name: 'linear dx',
          M: N,
          N: I,
          K: O,
          batch: 1,
          decls: `${IN(0, 'G')}\n${IN(1, 'W')}`,
          a: strided('G', `i * ${u(O)}`, 'k'),
          b: strided('W', 'i', `k * ${u(I)}`),
          aContiguous: 'k',
          bContiguous: 'n',
        },
        [dy, w],
      )
    : null;
  const dw = gemmPlain(
    rt,
    {
      name: 'linear dw',
      M: O,
      N: I,
      K: N,
      batch: 1,
      decls: `${IN(0, 'G')}\n${IN(1, 'X')}`,
      a: strided('G', 'i', `k * ${u(O)}`),
      b: strided('X', 'i', `k * ${u(I)}`),
      aContiguous: 'm',
      bContiguous: 'n',
    },
    [dy, x],
  );
  const db = hasBias ? reduce(rt, 'sum', dy, [N, O], [0]) : null;
  return { dx, dw, db };
}
