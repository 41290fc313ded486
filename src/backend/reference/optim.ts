/**
 * Fused optimizer updates of the reference backend: torch.optim.SGD and Adam/AdamW for a parameter
 * group, in place on the parameters and the optimizer state.
 *
 * The arithmetic is torch's CPU single-tensor path (torch/optim/sgd.py `_single_tensor_sgd`,
 * adam.py / adamw.py `_single_tensor_adam(w)`, PyTorch 1.13) op by op: every hyperparameter is
 * rounded to float32 as torch converts a Python float for a float32 tensor op, and every tensor op
 * (`add(alpha=)`, `mul_`, `addcmul_`, `sqrt`, `/`, `add_`, `addcdiv_`) is computed in float64 and
 * rounded once to float32. Bias corrections and Adam's step size are float64 as in Python.
 *
 * These are the only reference kernels that write into their operands; a reshape view sharing a
 * parameter's buffer sees the update (as a view of a torch parameter does).
 */
import type { AdamHyper, SgdHyper, Shape, Storage } from '../kernels.js';
import { ref, wrap } from './storage.js';
import { fmt, numel } from './util.js';

const fr = Math.fround;

/** The float32 data of storage `s`, checked against `shape` (`what` names it in errors). */
function data(op: string, s: Storage, shape: Shape, what: string, i: number): Float32Array {
  const d = ref(s).data;
  if (!(d instanceof Float32Array)) throw new Error(`${op}: ${what} ${i} must be float32, got ${s.dtype}`);
  if (d.length !== numel(shape)) {
    throw new Error(`${op}: ${what} ${i} has ${d.length} elements, its shape ${fmt(shape)} needs ${numel(shape)}`);
  }
  return d;
}

function checkLengths(op: string, n: number, lists: [string, number][]): void {
  for (const [name, len] of lists) {
    if (len !== n) throw new Error(`${op}: ${n} parameters but ${len} ${name}`);
  }
}

/** torch.optim.SGD's update of every parameter of a group (see Kernels.sgdStep). */
export function sgdStep(
  params: readonly Storage[],
  grads: readonly Storage[],
  bufs: readonly (Storage | null)[],
  shapes: readonly Shape[],
  h: SgdHyper,
): Storage[] {
  const useMomentum = h.momentum !== 0;
  checkLengths('sgdStep', params.length, [
    ['grads', grads.length],
    ['shapes', shapes.length],
    ...(useMomentum ? ([['momentum buffers', bufs.length]] as [string, number][]) : []),
  ]);
  const wd = fr(h.weightDecay);
  const mom = fr(h.momentum);
  const damp1 = fr(1 - h.dampening);
  const negLr = fr(-h.lr);
  const out: Storage[] = [];
  params.forEach((ps, i) => {
    const shape = shapes[i]!;
    const p = data('sgdStep', ps, shape, 'parameter', i);
    const g = data('sgdStep', grads[i]!, shape, 'grad', i);
    const n = p.length;
    let buf: Float32Array | null = null;
    let first = false;
    if (useMomentum) {
      const bs = bufs[i] ?? null;
      if (bs === null) {
        first = true;
        const fresh = new Float32Array(n);
        const nb = wrap(fresh);
        buf = fresh;
        out.push(nb);
      } else {
        buf = data('sgdStep', bs, shape, 'momentum buffer', i);
        out.push(bs);
      }
    }
    for (let j = 0; j < n; j++) {
      // d_p = grad (or -grad); d_p = d_p.add(param, alpha=weight_decay)
      let d = h.maximize ? -g[j]! : g[j]!;
      if (h.weightDecay !== 0) d = fr(d + wd * p[j]!);
      if (buf !== null) {
        let b: number;
        if (first) {
          b = d; // buf = torch.clone(d_p)
        } else {
          b = fr(buf[j]! * mom); // buf.mul_(momentum)
          b = fr(b + damp1 * d); // .add_(d_p, alpha=1 - dampening)
        }
        buf[j] = b;
        d = h.nesterov ? fr(d + mom * b) : b; // d_p.add(buf, alpha=momentum) or buf
      }
      p[j] = fr(p[j]! + negLr * d); // param.add_(d_p, alpha=-lr)
    }
  });
  return out;
}

/** torch.optim.Adam / AdamW's update (amsgrad off) of every parameter of a group (see Kernels.adamStep). */
export function adamStep(
  params: readonly Storage[],
  grads: readonly Storage[],
  expAvg: readonly Storage[],
  expAvgSq: readonly Storage[],
  shapes: readonly Shape[],
  h: AdamHyper,
): void {
  checkLengths('adamStep', params.length, [
    ['grads', grads.length],
    ['expAvg', expAvg.length],
    ['expAvgSq', expAvgSq.length],
    ['shapes', shapes.length],
  ]);
  if (!(h.step >= 1)) throw new Error('adamStep: step must be >= 1 (the first update is step 1)');
  const bc1 = 1 - h.beta1 ** h.step;
  const bc2 = 1 - h.beta2 ** h.step;
  const wd = fr(h.weightDecay);
  const decay = fr(1 - h.lr * h.weightDecay);
  const b1 = fr(h.beta1);
  const omb1 = fr(1 - h.beta1);
  const b2 = fr(h.beta2);
  const omb2 = fr(1 - h.beta2);
  const bc2s = fr(Math.sqrt(bc2));
  const eps = fr(h.eps);
  const negStep = fr(-(h.lr / bc1));
  params.forEach((ps, i) => {
    const shape = shapes[i]!;
    const p = data('adamStep', ps, shape, 'parameter', i);
    const g = data('adamStep', grads[i]!, shape, 'grad', i);
    const m = data('adamStep', expAvg[i]!, shape, 'expAvg', i);
    const v = data('adamStep', expAvgSq[i]!, shape, 'expAvgSq', i);
    for (let j = 0; j < p.length; j++) {
      let gj = h.maximize ? -g[j]! : g[j]!;
      let pj = p[j]!;
      if (h.decoupled) {
        if (h.weightDecay !== 0) pj = fr(pj * decay); // param.mul_(1 - lr * weight_decay)
      } else if (h.weightDecay !== 0) {
        gj = fr(gj + wd * pj); // grad.add(param, alpha=weight_decay)
      }
      const mj = fr(fr(m[j]! * b1) + omb1 * gj); // exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
      const vj = fr(fr(v[j]! * b2) + omb2 * gj * gj); // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
      const denom = fr(fr(fr(Math.sqrt(vj)) / bc2s) + eps); // (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps)
      m[j] = mj;
      v[j] = vj;
      p[j] = fr(pj + (negStep * mj) / denom); // param.addcdiv_(exp_avg, denom, value=-step_size)
    }
  });
}
