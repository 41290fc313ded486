/**
 * 2-D convolution (PyTorch's cross-correlation: stride, zero padding, dilation, groups) as implicit
 * GEMMs on the tiled core (gemm.ts); the im2col matrix is never stored, `load_b`/`load_a` compute
 * the pixel of each (channel, tap) × (image, position) pair on the fly. Per group g (dispatch z):
 *
 * - forward:          Y[n, g·Og+m, p]  = Σ_{c,kh,kw} W[g·Og+m, c, kh, kw] · X[n, g·Cg+c, ih, iw]
 *                     M = Og, N = batch·OH·OW, K = Cg·KH·KW, bias added in the store;
 * - backward data:    dX[n, g·Cg+c, ih, iw] = Σ_{o,kh,kw} W[g·Og+o, c, kh, kw] · dY[n, g·Og+o, oh, ow]
 *                     where oh = (ih + padH − kh·dilH) / strideH must be an integer in range;
 *                     M = Cg, N = batch·H·W, K = Og·KH·KW;
 * - backward weights: dW[g·Og+m, c, kh, kw] = Σ_{n,oh,ow} dY[n, g·Og+m, oh, ow] · X[n, g·Cg+c, ih, iw]
 *                     M = Og, N = Cg·KH·KW, K = batch·OH·OW (split over workgroups, see gemm.ts);
 *
 * with ih = oh·strideH − padH + kh·dilH (likewise for w) and taps outside the input reading 0.
 */
import type { Conv2dParams, Shape } from '../kernels.js';
import type { Runtime } from './runtime.js';
import type { GpuStorage } from './storage.js';
import { requireDType } from './elementwise.js';
import { gemmPlain, gemmStore, strided } from './gemm.js';
import { reduce } from './reduce.js';
import { storageBinding, u, i } from './wgsl.js';

interface Dims {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  Cg: number;
  Og: number;
  KH: number;
  KW: number;
  OH: number;
  OW: number;
  G: number;
}

function dims(xShape: Shape, wShape: Shape, yShape: Shape, groups: number): Dims {
  return {
    N: xShape[0]!,
    C: xShape[1]!,
    H: xShape[2]!,
    W: xShape[3]!,
    O: wShape[0]!,
    Cg: wShape[1]!,
    Og: wShape[0]! / groups,
    KH: wShape[2]!,
    KW: wShape[3]!,
    OH: yShape[2]!,
    OW: yShape[3]!,
    G: groups,
  };
}

const IN = (k: number, name: string): string => storageBinding(k, name, 'f32', false);

/** The (channel, tap) side of the im2col matrix: vec4i(c·H·W, kh·dilH, kw·dilW, 0) for index `at`. */
function tapInfo(d: Dims, p: Conv2dParams, at: string): string {
  return `  let c = ${at} / ${u(d.KH * d.KW)};
  let r = ${at} % ${u(d.KH * d.KW)};
  return vec4i(i32(c * ${u(d.H * d.W)}), i32((r / ${u(d.KW)}) * ${u(p.dilation[0])}), i32((r % ${u(d.KW)}) * ${u(p.dilation[1])}), 0);`;
}

/**
 * The (image, output position) side of the im2col matrix for index `at` (group b):
 * vec4i(offset of image n's first channel of the group, oh·strideH − padH, ow·strideW − padW, 0).
 */
function positionInfo(d: Dims, p: Conv2dParams, at: string): string {
  return `  let nb = ${at} / ${u(d.OH * d.OW)};
  let q = ${at} % ${u(d.OH * d.OW)};
  return vec4i(i32((nb * ${u(d.C)} + b * ${u(d.Cg)}) * ${u(d.H * d.W)}), i32((q / ${u(d.OW)}) * ${u(p.stride[0])}) - ${i(p.padding[0])}, i32((q % ${u(d.OW)}) * ${u(p.stride[1])}) - ${i(p.padding[1])}, 0);`;
}

/** The im2col element from a tap info and a position info (symmetric in o and q): 0 in the padding. */
function im2colLoad(d: Dims): string {
  return `  let ih = o.y + q.y;
  let iw = o.z + q.z;
  if (ih < 0i || ih >= ${i(d.H)} || iw < 0i || iw >= ${i(d.W)}) { return 0.0; }
  return X[u32(o.x + q.x + ih * ${i(d.W)} + iw)];`;
}

/** y = conv2d(x, w) + b. */
export function conv2d(rt: Runtime, x: GpuStorage, xShape: Shape, w: GpuStorage, wShape: Shape, bias: GpuStorage | null, p: Conv2dParams, yShape: Shape): GpuStorage {
  requireDType('conv2d', x, ['float32']);
  requireDType('conv2d', w, ['float32']);
  const d = dims(xShape, wShape, yShape, p.groups);
  const K = d.Cg * d.KH * d.KW;
  const P = d.OH * d.OW;
  const y = rt.alloc('float32', d.N * d.O * P);
  const bindings = bias === null ? [x, w, y] : [x, w, bias, y];
  gemmStore(
    rt,
    {
      name: 'conv2d',
      M: d.Og,
      N: d.N * P,
      K,
      batch: d.G,
      decls: `${IN(0, 'X')}\n${IN(1, 'Wt')}${bias === null ? '' : `\n${IN(2, 'BIAS')}`}`,
      a: strided('Wt', `(b * ${u(d.Og)} + i) * ${u(K)}`, 'k'),
      b: { outer: positionInfo(d, p, 'i'), inner: tapInfo(d, p, 'k'), load: im2colLoad(d) },
      aContiguous: 'k',
      bContiguous: 'n',
    },
    bindings,
    storageBinding(bias === null ? 2 : 3, 'Y', 'f32', true),
    `  let o = b * ${u(d.Og)} + m;
  let nb = n / ${u(P)};
  let q = n % ${u(P)};
  Y[(nb * ${u(d.O)} + o) * ${u(P)} + q] = v${bias === null ? '' : ' + BIAS[o]'};`,
  );
  return y;
}

/** dx of conv2d. */
export function conv2dBackwardData(rt: Runtime, dy: GpuStorage, dyShape: Shape, w: GpuStorage, wShape: Shape, xShape: Shape, p: Conv2dParams): GpuStorage {
  requireDType('conv2dBackwardData', dy, ['float32']);
  requireDType('conv2dBackwardData', w, ['float32']);
  const d = dims(xShape, wShape, dyShape, p.groups);
  const [sh, sw] = p.stride;
  const [ph, pw] = p.padding;
  const [dh, dw] = p.dilation;
  const HW = d.H * d.W;
  const T = d.KH * d.KW;
  const dx = rt.alloc('float32', d.N * d.C * HW);
  gemmStore(
    rt,
    {
      name: 'conv2d backward data',
      M: d.Cg,
      N: d.N * HW,
      K: d.Og * T,
      batch: d.G,
      decls: `${IN(0, 'G')}\n${IN(1, 'Wt')}`,
      // A(c, (o, kh, kw)) = W[g·Og + o, c, kh, kw] = Wt[(g·Og·Cg + c)·T + o·Cg·T + r]
      a: strided('Wt', `(b * ${u(d.Og * d.Cg)} + i) * ${u(T)}`, `(k / ${u(T)}) * ${u(d.Cg * T)} + k % ${u(T)}`),
      // B((o, kh, kw), (n, ih, iw)) = dY[n, g·Og + o, oh, ow] with oh·strideH = ih + padH − kh·dilH
      b: {
        outer: `  let nb = i / ${u(HW)};
  let q = i % ${u(HW)};
  return vec4i(i32((nb * ${u(d.O)} + b * ${u(d.Og)}) * ${u(d.OH * d.OW)}), i32(q / ${u(d.W)}) + ${i(ph)}, i32(q % ${u(d.W)}) + ${i(pw)}, 0);`,
        inner: `  let r = k % ${u(T)};
  return vec4i(i32((k / ${u(T)}) * ${u(d.OH * d.OW)}), i32((r / ${u(d.KW)}) * ${u(dh)}), i32((r % ${u(d.KW)}) * ${u(dw)}), 0);`,
        load: `  let th = o.y - q.y;
  let tw = o.z - q.z;
  if (th < 0i || tw < 0i) { return 0.0; }
  let oh = u32(th) / ${u(sh)};
  let ow = u32(tw) / ${u(sw)};
  if (oh * ${u(sh)} != u32(th) || ow * ${u(sw)} != u32(tw) || oh >= ${u(d.OH)} || ow >= ${u(d.OW)}) { return 0.0; }
  return G[u32(o.x + q.x) + oh * ${u(d.OW)} + ow];`,
      },
      aContiguous: 'k',
      bContiguous: 'n',
    },
    [dy, w, dx],
    storageBinding(2, 'DX', 'f32', true),
    `  let nb = n / ${u(HW)};
  let q = n % ${u(HW)};
  DX[(nb * ${u(d.C)} + b * ${u(d.Cg)} + m) * ${u(HW)} + q] = v;`,
  );
  return dx;
}

/** dw (and db when hasBias) of conv2d. */
export function conv2dBackwardWeights(
  rt: Runtime,
  dy: GpuStorage,
  dyShape: Shape,
  x: GpuStorage,
  xShape: Shape,
  wShape: Shape,
  hasBias: boolean,
  p: Conv2dParams,
): { dw: GpuStorage; db: GpuStorage | null } {
  requireDType('conv2dBackwardWeights', dy, ['float32']);
  requireDType('conv2dBackwardWeights', x, ['float32']);
  const d = dims(xShape, wShape, dyShape, p.groups);
  const P = d.OH * d.OW;
  const dw = gemmPlain(
    rt,
    {
      name: 'conv2d backward weights',
      M: d.Og,
      N: d.Cg * d.KH * d.KW,
      K: d.N * P,
      batch: d.G,
      decls: `${IN(0, 'G')}\n${IN(1, 'X')}`,
      // A(o, (n, oh, ow)) = dY[n, g·Og + o, oh, ow]
      a: strided('G', `(b * ${u(d.Og)} + i) * ${u(P)}`, `(k / ${u(P)}) * ${u(d.O * P)} + k % ${u(P)}`),
      // B((n, oh, ow), (c, kh, kw)): the im2col matrix with the roles of rows and columns swapped
      b: { outer: tapInfo(d, p, 'i'), inner: positionInfo(d, p, 'k'), load: im2colLoad(d) },
      aContiguous: 'k',
      bContiguous: 'k',
    },
    [dy, x],
  );
  const db = hasBias ? reduce(rt, 'sum', dy, dyShape, [0, 2, 3]) : null;
  return { dw, db };
}
