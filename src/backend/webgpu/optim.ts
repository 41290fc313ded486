/**
 * Fused optimizer updates, IN PLACE on the parameter (and state) buffers: one dispatch per
 * parameter reads the gradient once and writes the parameter and its state once, instead of the
 * five to ten elementwise kernels (and temporaries) the update takes as separate ops. The
 * hyperparameters are uniforms, so a learning-rate schedule or Adam's step-dependent bias
 * corrections never recompile; the boolean options (maximize, nesterov, first step) are baked in.
 */
import type { AdamHyper, SgdHyper, Shape } from '../kernels.js';
import type { Runtime } from './runtime.js';
import type { GpuStorage } from './storage.js';
import { requireDType } from './elementwise.js';
import { flatGroups, flatMain, numel, storageBinding, uniforms } from './wgsl.js';

function checkLists(kernel: string, n: number, lists: readonly (readonly unknown[])[]): void {
  for (const l of lists) {
    if (l.length !== n) throw new Error(`webgpu backend: ${kernel}: got lists of different lengths (${lists.map((x) => x.length).join(', ')})`);
  }
}

/**
 * torch.optim.SGD for every parameter of a group: d = ±grad + wd·p; with momentum, buf = d on the
 * first step (`bufs[i]` null: a new buffer is returned) else buf = momentum·buf + (1 − dampening)·d,
 * and d = buf (or d + momentum·buf with Nesterov); p −= lr·d.
 */
export function sgdStep(
  rt: Runtime,
  params: readonly GpuStorage[],
  grads: readonly GpuStorage[],
  bufs: readonly (GpuStorage | null)[],
  shapes: readonly Shape[],
  h: SgdHyper,
): GpuStorage[] {
  checkLists('sgdStep', params.length, [grads, bufs, shapes]);
  const out: GpuStorage[] = [];
  params.forEach((p, k) => {
    const g = grads[k]!;
    requireDType('sgdStep', p, ['float32']);
    requireDType('sgdStep', g, ['float32']);
    const n = numel(shapes[k]!);
    const momentum = h.momentum !== 0;
    const first = momentum && bufs[k] === null;
    const buf = momentum ? (bufs[k] ?? rt.alloc('float32', n)) : null;
    const U = uniforms(momentum ? 3 : 2, [
      { name: 'lr', type: 'f32', value: h.lr },
      { name: 'momentum', type: 'f32', value: h.momentum },
      { name: 'dampening', type: 'f32', value: h.dampening },
      { name: 'wd', type: 'f32', value: h.weightDecay },
    ]);
    const body = [
      `  var d = ${h.maximize ? '-' : ''}G[idx];`,
      h.weightDecay !== 0 ? '  d = d + p.wd * P[idx];' : '',
      momentum ? (first ? '  let b = d;' : '  let b = p.momentum * BUF[idx] + (1.0 - p.dampening) * d;') : '',
      momentum ? '  BUF[idx] = b;' : '',
      momentum ? (h.nesterov ? '  d = d + p.momentum * b;' : '  d = b;') : '',
      '  P[idx] = P[idx] - p.lr * d;',
    ]
      .filter((l) => l !== '')
      .join('\n');
    const code = `// sgdStep${h.maximize ? ' maximize' : ''}${momentum ? ' momentum' : ''}${first ? ' first' : ''}${h.nesterov ? ' nesterov' : ''}
${storageBinding(0, 'P', 'f32', true)}
${storageBinding(1, 'G', 'f32', false)}
${momentum ? storageBinding(2, 'BUF', 'f32', true) : ''}
${U.decl}
${flatMain(n, body)}`;
    rt.run(code, momentum ? [p, g, buf!] : [p, g], flatGroups(n), U.data);
    if (buf !== null) out.push(buf);
  });
  return out;
}

/**
 * torch.optim.Adam / AdamW (amsgrad off) for every parameter of a group:
 * g = ±grad (+ wd·p unless decoupled; decoupled: p ← p·(1 − lr·wd)); m = β1·m + (1 − β1)·g;
 * v = β2·v + (1 − β2)·g²; p ← p − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + eps).
 */
export function adamStep(
  rt: Runtime,
  params: readonly GpuStorage[],
  grads: readonly GpuStorage[],
  expAvg: readonly GpuStorage[],
  expAvgSq: readonly GpuStorage[],
  shapes: readonly Shape[],
  h: AdamHyper,
): void {
  checkLists('adamStep', params.length, [grads, expAvg, expAvgSq, shapes]);
  const bc1 = 1 - h.beta1 ** h.step;
  const bc2 = 1 - h.beta2 ** h.step;
  params.forEach((p, k) => {
    for (const s of [p, grads[k]!, expAvg[k]!, expAvgSq[k]!]) requireDType('adamStep', s, ['float32']);
    const n = numel(shapes[k]!);
    const U = uniforms(4, [
      { name: 'beta1', type: 'f32', value: h.beta1 },
      { name: 'beta2', type: 'f32', value: h.beta2 },
      { name: 'eps', type: 'f32', value: h.eps },
      { name: 'wd', type: 'f32', value: h.weightDecay },
      { name: 'stepSize', type: 'f32', value: h.lr / bc1 },
      { name: 'bc2sqrt', type: 'f32', value: Math.sqrt(bc2) },
      { name: 'decay', type: 'f32', value: 1 - h.lr * h.weightDecay },
    ]);
    const wd = h.weightDecay !== 0;
    const body = [
      `  var g = ${h.maximize ? '-' : ''}G[idx];`,
      '  var w = P[idx];',
      wd && !h.decoupled ? '  g = g + p.wd * w;' : '',
      wd && h.decoupled ? '  w = w * p.decay;' : '',
      '  let m = p.beta1 * M[idx] + (1.0 - p.beta1) * g;',
      '  let v = p.beta2 * V[idx] + (1.0 - p.beta2) * g * g;',
      '  M[idx] = m;',
      '  V[idx] = v;',
      '  P[idx] = w - p.stepSize * m / (sqrt(v) / p.bc2sqrt + p.eps);',
    ]
      .filter((l) => l !== '')
      .join('\n');
    const code = `// adamStep${h.maximize ? ' maximize' : ''}${wd ? (h.decoupled ? ' adamw' : ' l2') : ''}
${storageBinding(0, 'P', 'f32', true)}
${storageBinding(1, 'G', 'f32', false)}
${storageBinding(2, 'M', 'f32', true)}
${storageBinding(3, 'V', 'f32', true)}
${U.decl}
${flatMain(n, body)}`;
    rt.run(code, [p, grads[k]!, expAvg[k]!, expAvgSq[k]!], flatGroups(n), U.data);
  });
}
