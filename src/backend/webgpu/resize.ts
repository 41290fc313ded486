/**
 * Bilinear resize of [N, C, H, W] as PyTorch's `interpolate(mode='bilinear', align_corners=False)`.
 * Along each axis, output o samples src = (o + 0.5)·in/out − 0.5, clamped below at 0, between
 * i0 = floor(src) and i1 = min(i0 + 1, in − 1) with weight λ = src − i0 on i1. Here src is the exact
 * fraction ((2o + 1)·in − out) / (2·out), so i0 is an integer division and only λ is rounded.
 *
 * The backward pass runs one thread per input pixel and gathers dy from the outputs whose taps
 * include it (a few candidates around (i + 0.5)·out/in, each checked against its exact taps).
 */
import type { Shape } from '../kernels.js';
import type { Runtime } from './runtime.js';
import type { GpuStorage } from './storage.js';
import { requireDType } from './elementwise.js';
import { flatGroups, flatMain, storageBinding, u } from './wgsl.js';

/** WGSL `fn taps_<axis>(o: u32) -> vec3f`: (i0, i1, λ) of output o along an axis of in → out. */
function tapsFn(axis: string, inSize: number, outSize: number): string {
  return `fn taps_${axis}(o: u32) -> vec3f {
  let num = i32((2u * o + 1u) * ${u(inSize)}) - ${outSize}i;
  if (num <= 0i) { return vec3f(0.0, f32(min(1u, ${u(inSize - 1)})), 0.0); }
  let i0 = min(u32(num) / ${u(2 * outSize)}, ${u(inSize - 1)});
  let i1 = min(i0 + 1u, ${u(inSize - 1)});
  let lambda = f32(u32(num) - i0 * ${u(2 * outSize)}) / ${2 * outSize}.0;
  return vec3f(f32(i0), f32(i1), lambda);
}`;
}

/** Bilinear resize to [N, C, OH, OW]. */
export function resizeBilinear(rt: Runtime, x: GpuStorage, shape: Shape, out: [number, number]): GpuStorage {
  requireDType('resizeBilinear', x, ['float32']);
  const [N, C, H, W] = [shape[0]!, shape[1]!, shape[2]!, shape[3]!];
  const [OH, OW] = out;
  const n = N * C * OH * OW;
  const y = rt.alloc('float32', n);
  if (n === 0) return y;
  const code = `// resizeBilinear
${storageBinding(0, 'X', 'f32', false)}
${storageBinding(1, 'Y', 'f32', true)}
${tapsFn('h', H, OH)}
${tapsFn('w', W, OW)}
${flatMain(
  n,
  `  let ow = idx % ${u(OW)};
  let oh = (idx / ${u(OW)}) % ${u(OH)};
  let plane = (idx / ${u(OH * OW)}) * ${u(H * W)};
  let th = taps_h(oh);
  let tw = taps_w(ow);
  let r0 = plane + u32(th.x) * ${u(W)};
  let r1 = plane + u32(th.y) * ${u(W)};
  let c0 = u32(tw.x);
  let c1 = u32(tw.y);
  let top = (1.0 - tw.z) * X[r0 + c0] + tw.z * X[r0 + c1];
  let bottom = (1.0 - tw.z) * X[r1 + c0] + tw.z * X[r1 + c1];
  Y[idx] = (1.0 - th.z) * top + th.z * bottom;`,
)}`;
  rt.run(code, [x, y], flatGroups(n));
  return y;
}

/** WGSL: the candidate outputs [lo, hi) along an axis whose taps may include input `pos`. */
function candidates(name: string, pos: string, inSize: number, outSize: number): string {
  const r = outSize / inSize;
  return `  let ${name}lo = u32(max(0i, i32(floor((f32(${pos}) - 0.5) * ${r.toFixed(9)} - 0.5)) - 1i));
  let ${name}hi = u32(min(${outSize}i, i32(ceil((f32(${pos}) + 1.5) * ${r.toFixed(9)} - 0.5)) + 2i));`;
}

/** dx of resizeBilinear: each input pixel gathers dy with the forward weights. */
export function resizeBilinearBackward(rt: Runtime, dy: GpuStorage, shape: Shape, out: [number, number]): GpuStorage {
  requireDType('resizeBilinearBackward', dy, ['float32']);
  const [N, C, H, W] = [shape[0]!, shape[1]!, shape[2]!, shape[3]!];
  const [OH, OW] = out;
  const n = N * C * H * W;
  const dx = rt.alloc('float32', n);
  if (n === 0) return dx;
  const code = `// resizeBilinearBackward
${storageBinding(0, 'G', 'f32', false)}
${storageBinding(1, 'DX', 'f32', true)}
${tapsFn('h', H, OH)}
${tapsFn('w', W, OW)}
fn weight(t: vec3f, pos: u32) -> f32 {
  let p = f32(pos);
  return select(0.0, 1.0 - t.z, t.x == p) + select(0.0, t.z, t.y == p);
}
${flatMain(
  n,
  `  let iw = idx % ${u(W)};
  let ih = (idx / ${u(W)}) % ${u(H)};
  let plane = (idx / ${u(H * W)}) * ${u(OH * OW)};
${candidates('h', 'ih', H, OH)}
${candidates('w', 'iw', W, OW)}
  var acc: f32 = 0.0;
  for (var oh: u32 = hlo; oh < hhi; oh = oh + 1u) {
    let wh = weight(taps_h(oh), ih);
    if (wh == 0.0) { continue; }
    var row: f32 = 0.0;
    for (var ow: u32 = wlo; ow < whi; ow = ow + 1u) {
      let ww = weight(taps_w(ow), iw);
      row = row + ww * G[plane + oh * ${u(OW)} + ow];
    }
    acc = acc + wh * row;
  }
  DX[idx] = acc;`,
)}`;
  rt.run(code, [dy, dx], flatGroups(n));
  return dx;
}
