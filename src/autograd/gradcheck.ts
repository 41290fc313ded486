/**
 * Finite-difference gradient checking: compares the gradients computed by `backward` with central
 * differences of the function, through a random projection of the output to a scalar.
 */
import { Tensor } from '../tensor/tensor.js';
import { Generator } from '../tensor/random.js';
import { noGrad } from './grad-mode.js';
import { backward } from './backward.js';

/**
 * Options of `gradcheck`. Defaults follow the inputs' dtype: float64 uses PyTorch's
 * `torch.autograd.gradcheck` values (eps 1e-6, atol 1e-5, rtol 1e-3); float32 (backends without
 * float64) a step and tolerances that float32 rounding allows (eps 5e-3, atol 5e-3, rtol 1e-2).
 */
export interface GradcheckOptions {
  /** Finite-difference step. */
  eps?: number;
  /** Absolute tolerance. */
  atol?: number;
  /** Relative tolerance. */
  rtol?: number;
  /** Seed of the output projection. */
  seed?: number;
}

/** Result of a gradient check. */
export interface GradcheckResult {
  ok: boolean;
  /** Largest |analytic - numeric| over all checked elements. */
  maxAbsError: number;
  /** Description of the worst element (input index, flat index, both values). */
  worst: string;
}

function clone(x: Tensor, data: Float32Array | Float64Array): Tensor {
  const k = x.kernels;
  const host = x.dtype === 'float64' ? Float64Array.from(data) : Float32Array.from(data);
  return new Tensor(k.fromHost(host, x.shape, x.dtype), x.shape, x.dtype, k);
}

/**
 * Checks `fn`'s gradients w.r.t. every input that has `requiresGrad`. Returns the result; use
 * `assertGradcheck` in tests to throw with details.
 * @example gradcheck((a) => a.mul(a).sum(), [randn([3], { requiresGrad: true })])
 */
export function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradcheckOptions = {}): GradcheckResult {
  const double = inputs.length > 0 && inputs.every((x) => x.dtype === 'float64');
  const eps = opts.eps ?? (double ? 1e-6 : 5e-3);
  const atol = opts.atol ?? (double ? 1e-5 : 5e-3);
  const rtol = opts.rtol ?? (double ? 1e-3 : 1e-2);
  const gen = new Generator(opts.seed ?? 1234);

  for (const x of inputs) {
    if (x.grad !== null) {
      x.grad.dispose();
      x.grad = null;
    }
  }
  const y = fn(...inputs);
  const proj = y.dtype === 'float64' ? new Float64Array(y.size) : new Float32Array(y.size);
  for (let i = 0; i < proj.length; i++) proj[i] = gen.random() * 2 - 1;
  const projT = new Tensor(y.kernels.fromHost(proj, y.shape, y.dtype), y.shape, y.dtype, y.kernels);
  backward(y, projT);

  const hostInputs = inputs.map((x) => (x.dtype === 'float64' ? Float64Array.from(x.toArray()) : Float32Array.from(x.toArray())));
  const evalAt = (which: number, data: Float32Array | Float64Array): number =>
    noGrad(() => {
      const xs = inputs.map((x, i) => (i === which ? clone(x, data) : x));
      const out = fn(...xs);
      const v = out.toArray();
      let s = 0;
      for (let i = 0; i < v.length; i++) s += v[i]! * proj[i]!;
      out.dispose();
      xs[which]!.dispose();
      return s;
    });

  let maxAbsError = 0;
  let worst = '';
  let ok = true;
  inputs.forEach((x, which) => {
    if (!x.requiresGrad) return;
    if (x.grad === null) {
      ok = false;
      worst = `input ${which}: no gradient was computed`;
      return;
    }
    const analytic = x.grad.toArray();
    const base = hostInputs[which]!;
    for (let j = 0; j < base.length; j++) {
      const orig = base[j]!;
      base[j] = orig + eps;
      const fp = evalAt(which, base);
      base[j] = orig - eps;
      const fm = evalAt(which, base);
      base[j] = orig;
      const numeric = (fp - fm) / (2 * eps);
      const err = Math.abs(analytic[j]! - numeric);
      if (err > maxAbsError) {
        maxAbsError = err;
        worst = `input ${which} element ${j}: analytic ${analytic[j]} vs numeric ${numeric}`;
      }
      if (err > atol + rtol * Math.abs(numeric)) ok = false;
    }
  });
  return { ok, maxAbsError, worst };
}

/** Like `gradcheck` but throws an Error describing the worst element when the check fails. */
export function assertGradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradcheckOptions = {}): void {
  const r = gradcheck(fn, inputs, opts);
  if (!r.ok) throw new Error(`gradcheck failed: ${r.worst} (max abs error ${r.maxAbsError})`);
}
