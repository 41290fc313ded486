/**
 * Pooling over [N, C, H, W]: max (with an int32 argmax workspace), average (PyTorch's divisor
 * rules) and adaptive average, forward and backward. Window of output (oh, ow): rows
 * oh·strideH − padH + [0, KH), likewise for columns.
 *
 * Forward kernels run one thread per output. Backward kernels run one thread per INPUT element and
 * gather the outputs whose windows contain it (for max pooling: whose argmax is it), so overlapping
 * windows accumulate without atomics and in a fixed order.
 */
import type { Pool2dParams, PoolResult, Shape } from '../kernels.js';
import type { Runtime } from './runtime.js';
import type { GpuStorage } from './storage.js';
import { requireDType } from './elementwise.js';
import { PRELUDE, flatGroups, flatMain, i, storageBinding, u } from './wgsl.js';

function nchw(shape: Shape): [number, number, number, number] {
  return [shape[0]!, shape[1]!, shape[2]!, shape[3]!];
}

/**
 * WGSL for the range [lo, hi) of outputs along one axis whose window [o·s − pad, o·s − pad + k)
 * contains input index `pos`: o ∈ [ceil((pos + pad − k + 1)/s), floor((pos + pad)/s)] ∩ [0, out).
 */
function coveringRange(name: string, pos: string, s: number, pad: number, k: number, out: number): string {
  return `  let ${name}t = i32(${pos}) + ${i(pad)};
  let ${name}lo = u32(max(0i, (${name}t - ${i(k)} + ${i(s)}) / ${i(s)}));
  let ${name}hi = min(${u(out)}, u32(${name}t / ${i(s)}) + 1u);`;
}

/** Max pooling; the workspace holds, per output, the flat index ih·W + iw of its maximum. */
export function maxPool2d(rt: Runtime, x: GpuStorage, shape: Shape, p: Pool2dParams): PoolResult {
  return maxPoolForward(rt, x, shape, p);
}

function maxPoolForward(rt: Runtime, x: GpuStorage, shape: Shape, p: Pool2dParams): { y: GpuStorage; workspace: GpuStorage } {
  requireDType('maxPool2d', x, ['float32']);
  const [N, C, H, W] = nchw(shape);
  const [KH, KW] = p.kernel;
  const [sh, sw] = p.stride;
  const [ph, pw] = p.padding;
  const [OH, OW] = p.out;
  const n = N * C * OH * OW;
  const y = rt.alloc('float32', n);
  const ws = rt.alloc('int32', n);
  // Like PyTorch: row-major scan of the window clipped to the input, strict > (first max wins), NaN
  // taken as the maximum; the index starts at the first valid element of the window.
  const code = `// maxPool2d
${PRELUDE}
${storageBinding(0, 'X', 'f32', false)}
${storageBinding(1, 'Y', 'f32', true)}
${storageBinding(2, 'IDX', 'i32', true)}
${flatMain(
  n,
  `  let ow = idx % ${u(OW)};
  let oh = (idx / ${u(OW)}) % ${u(OH)};
  let nc = idx / ${u(OH * OW)};
  let hs = i32(oh * ${u(sh)}) - ${i(ph)};
  let ws0 = i32(ow * ${u(sw)}) - ${i(pw)};
  let h0 = u32(max(hs, 0i));
  let h1 = u32(min(hs + ${i(KH)}, ${i(H)}));
  let w0 = u32(max(ws0, 0i));
  let w1 = u32(min(ws0 + ${i(KW)}, ${i(W)}));
  let plane = nc * ${u(H * W)};
  var best: f32 = -inf_f32();
  var bi: u32 = h0 * ${u(W)} + w0;
  for (var ih: u32 = h0; ih < h1; ih = ih + 1u) {
    for (var iw: u32 = w0; iw < w1; iw = iw + 1u) {
      let v = X[plane + ih * ${u(W)} + iw];
      if (!is_nan(best) && (v > best || is_nan(v))) { best = v; bi = ih * ${u(W)} + iw; }
    }
  }
  Y[idx] = best;
  IDX[idx] = i32(bi);`,
)}`;
  rt.run(code, [x, y, ws], flatGroups(n));
  return { y, workspace: ws };
}

/** dx of max pooling: each dy goes to the input element its window chose (collisions accumulate). */
export function maxPool2dBackward(rt: Runtime, dy: GpuStorage, x: GpuStorage, workspace: GpuStorage | null, shape: Shape, p: Pool2dParams): GpuStorage {
  requireDType('maxPool2dBackward', dy, ['float32']);
  let ws = workspace;
  let own: { y: GpuStorage; workspace: GpuStorage } | null = null;
  if (ws === null) {
    // The caller dropped the workspace: recompute the argmax from x.
    own = maxPoolForward(rt, x, shape, p);
    ws = own.workspace;
  }
  requireDType('maxPool2dBackward (workspace)', ws, ['int32']);
  const [N, C, H, W] = nchw(shape);
  const [KH, KW] = p.kernel;
  const [sh, sw] = p.stride;
  const [ph, pw] = p.padding;
  const [OH, OW] = p.out;
  const n = N * C * H * W;
  const dx = rt.alloc('float32', n);
  const code = `// maxPool2dBackward
${storageBinding(0, 'G', 'f32', false)}
${storageBinding(1, 'IDX', 'i32', false)}
${storageBinding(2, 'DX', 'f32', true)}
${flatMain(
  n,
  `  let iw = idx % ${u(W)};
  let ih = (idx / ${u(W)}) % ${u(H)};
  let nc = idx / ${u(H * W)};
  let me = i32(ih * ${u(W)} + iw);
${coveringRange('h', 'ih', sh, ph, KH, OH)}
${coveringRange('w', 'iw', sw, pw, KW, OW)}
  var acc: f32 = 0.0;
  for (var oh: u32 = hlo; oh < hhi; oh = oh + 1u) {
    for (var ow: u32 = wlo; ow < whi; ow = ow + 1u) {
      let o = (nc * ${u(OH)} + oh) * ${u(OW)} + ow;
      if (IDX[o] == me) { acc = acc + G[o]; }
    }
  }
  DX[idx] = acc;`,
)}`;
  rt.run(code, [dy, ws, dx], flatGroups(n));
  if (own !== null) {
    own.y.dispose();
    own.workspace.dispose();
  }
  return dx;
}

/**
 * WGSL for PyTorch's average-pooling bounds along one axis for output `o`: the summed window
 * [lo, hi) clipped to the input and the divisor extent clipped to [−pad, in + pad).
 */
function avgBounds(name: string, o: string, s: number, pad: number, k: number, inSize: number): string {
  return `  let ${name}s = i32(${o} * ${u(s)}) - ${i(pad)};
  let ${name}e = min(${name}s + ${i(k)}, ${i(inSize + pad)});
  let ${name}n = ${name}e - ${name}s;
  let ${name}0 = u32(max(${name}s, 0i));
  let ${name}1 = u32(min(${name}e, ${i(inSize)}));`;
}

function avgDivisor(p: Pool2dParams): string {
  return p.countIncludePad ? 'f32(hn * wn)' : 'f32((h1 - h0) * (w1 - w0))';
}

/** Average pooling. */
export function avgPool2d(rt: Runtime, x: GpuStorage, shape: Shape, p: Pool2dParams): GpuStorage {
  requireDType('avgPool2d', x, ['float32']);
  const [N, C, H, W] = nchw(shape);
  const [OH, OW] = p.out;
  const n = N * C * OH * OW;
  const y = rt.alloc('float32', n);
  const code = `// avgPool2d
${storageBinding(0, 'X', 'f32', false)}
${storageBinding(1, 'Y', 'f32', true)}
${flatMain(
  n,
  `  let ow = idx % ${u(OW)};
  let oh = (idx / ${u(OW)}) % ${u(OH)};
  let nc = idx / ${u(OH * OW)};
${avgBounds('h', 'oh', p.stride[0], p.padding[0], p.kernel[0], H)}
${avgBounds('w', 'ow', p.stride[1], p.padding[1], p.kernel[1], W)}
  let plane = nc * ${u(H * W)};
  var s: f32 = 0.0;
  for (var ih: u32 = h0; ih < h1; ih = ih + 1u) {
    for (var iw: u32 = w0; iw < w1; iw = iw + 1u) { s = s + X[plane + ih * ${u(W)} + iw]; }
  }
  Y[idx] = s / ${avgDivisor(p)};`,
)}`;
  rt.run(code, [x, y], flatGroups(n));
  return y;
}

/** dx of average pooling: each input gathers dy / divisor of every window that sums it. */
export function avgPool2dBackward(rt: Runtime, dy: GpuStorage, shape: Shape, p: Pool2dParams): GpuStorage {
  requireDType('avgPool2dBackward', dy, ['float32']);
  const [N, C, H, W] = nchw(shape);
  const [KH, KW] = p.kernel;
  const [sh, sw] = p.stride;
  const [ph, pw] = p.padding;
  const [OH, OW] = p.out;
  const n = N * C * H * W;
  const dx = rt.alloc('float32', n);
  const code = `// avgPool2dBackward
${storageBinding(0, 'G', 'f32', false)}
${storageBinding(1, 'DX', 'f32', true)}
${flatMain(
  n,
  `  let iw = idx % ${u(W)};
  let ih = (idx / ${u(W)}) % ${u(H)};
  let nc = idx / ${u(H * W)};
${coveringRange('ch', 'ih', sh, ph, KH, OH)}
${coveringRange('cw', 'iw', sw, pw, KW, OW)}
  var acc: f32 = 0.0;
  for (var oh: u32 = chlo; oh < chhi; oh = oh + 1u) {
${avgBounds('h', 'oh', sh, ph, KH, H)}
    for (var ow: u32 = cwlo; ow < cwhi; ow = ow + 1u) {
${avgBounds('w', 'ow', sw, pw, KW, W)}
      acc = acc + G[(nc * ${u(OH)} + oh) * ${u(OW)} + ow] / ${avgDivisor(p)};
    }
  }
  DX[idx] = acc;`,
)}`;
  rt.run(code, [dy, dx], flatGroups(n));
  return dx;
}

/** WGSL for PyTorch's adaptive bin i along an axis: [floor(i·in/out), ceil((i+1)·in/out)). */
function bin(name: string, o: string, inSize: number, outSize: number): string {
  return `  let ${name}0 = (${o} * ${u(inSize)}) / ${u(outSize)};
  let ${name}1 = ((${o} + 1u) * ${u(inSize)} + ${u(outSize - 1)}) / ${u(outSize)};`;
}

/** Adaptive average pooling to [OH, OW]. */
export function adaptiveAvgPool2d(rt: Runtime, x: GpuStorage, shape: Shape, out: [number, number]): GpuStorage {
  requireDType('adaptiveAvgPool2d', x, ['float32']);
  const [N, C, H, W] = nchw(shape);
  const [OH, OW] = out;
  const n = N * C * OH * OW;
  const y = rt.alloc('float32', n);
  const code = `// adaptiveAvgPool2d
${storageBinding(0, 'X', 'f32', false)}
${storageBinding(1, 'Y', 'f32', true)}
${flatMain(
  n,
  `  let ow = idx % ${u(OW)};
  let oh = (idx / ${u(OW)}) % ${u(OH)};
  let nc = idx / ${u(OH * OW)};
${bin('h', 'oh', H, OH)}
${bin('w', 'ow', W, OW)}
  let plane = nc * ${u(H * W)};
  var s: f32 = 0.0;
  for (var ih: u32 = h0; ih < h1; ih = ih + 1u) {
    for (var iw: u32 = w0; iw < w1; iw = iw + 1u) { s = s + X[plane + ih * ${u(W)} + iw]; }
  }
  Y[idx] = s / f32((h1 - h0) * (w1 - w0));`,
)}`;
  rt.run(code, [x, y], flatGroups(n));
  return y;
}

/**
 * dx of adaptive average pooling. The bins containing input index i along an axis are
 * o ∈ [floor(i·out/in), ceil((i+1)·out/in) − 1]; each is checked against its exact bounds.
 */
export function adaptiveAvgPool2dBackward(rt: Runtime, dy: GpuStorage, shape: Shape, out: [number, number]): GpuStorage {
  requireDType('adaptiveAvgPool2dBackward', dy, ['float32']);
  const [N, C, H, W] = nchw(shape);
  const [OH, OW] = out;
  const n = N * C * H * W;
  const dx = rt.alloc('float32', n);
  const code = `// adaptiveAvgPool2dBackward
${storageBinding(0, 'G', 'f32', false)}
${storageBinding(1, 'DX', 'f32', true)}
${flatMain(
  n,
  `  let iw = idx % ${u(W)};
  let ih = (idx / ${u(W)}) % ${u(H)};
  let nc = idx / ${u(H * W)};
  let ohlo = (ih * ${u(OH)}) / ${u(H)};
  let ohhi = min(${u(OH)}, ((ih + 1u) * ${u(OH)} + ${u(H - 1)}) / ${u(H)});
  let owlo = (iw * ${u(OW)}) / ${u(W)};
  let owhi = min(${u(OW)}, ((iw + 1u) * ${u(OW)} + ${u(W - 1)}) / ${u(W)});
  var acc: f32 = 0.0;
  for (var oh: u32 = ohlo; oh < ohhi; oh = oh + 1u) {
${bin('h', 'oh', H, OH)}
    if (ih < h0 || ih >= h1) { continue; }
    for (var ow: u32 = owlo; ow < owhi; ow = ow + 1u) {
${bin('w', 'ow', W, OW)}
      if (iw < w0 || iw >= w1) { continue; }
      acc = acc + G[(nc * ${u(OH)} + oh) * ${u(OW)} + ow] / f32((h1 - h0) * (w1 - w0));
    }
  }
  DX[idx] = acc;`,
)}`;
  rt.run(code, [dy, dx], flatGroups(n));
  return dx;
}
