/**
 * What the fused optimizer kernels save per step on AlexNet's parameters (the lecture's model:
 * 46.8M parameters in 16 tensors), native backend: the optimizers of src/optim as they are today (a
 * chain of scalar/axpy/binary/unary kernel calls and temporaries per parameter) against one
 * `sgdStep` / `adamStep` call per parameter group (src/backend/kernels.ts).
 *
 *   node dist/bench/optim.js [--reps 15]
 *
 * The gradients are real ones, from one training step of AlexNet (batch 8), so the convolution
 * weights' gradients arrive in oneDNN's blocked layout as they do in training. Both variants update
 * the same parameters; they alternate, and the median time per step is printed.
 */
import * as cn from '../src/index.js';
import { createModel, modelEntry } from '../src/models/registry.js';
import { SGD, Adam, type Optimizer } from '../src/optim/index.js';
import type { AdamHyper, Kernels, SgdHyper, Shape, Storage } from '../src/backend/kernels.js';
import { randint, randn } from '../src/tensor/creation.js';
import { manualSeed } from '../src/tensor/random.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : dflt;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function main(): void {
  if (!cn.nativeAvailable()) {
    console.error('bench/optim: the native backend is unavailable (npm run build:native)');
    process.exit(1);
  }
  cn.setBackend('native');
  const reps = Math.max(1, Number(arg('reps', '15')));
  manualSeed(0);
  const e = modelEntry('alexnet');
  const model = createModel('alexnet');
  const x = randn([8, e.inChannels, e.inputSize[0], e.inputSize[1]]).keep();
  const y = randint(0, e.numClasses, [8]).keep();
  model.applyInit([x]);
  model.train();
  cn.tidy(() => model.trainingStep({ x, y }).backward());
  const params = model.parameters();
  const k: Kernels = params[0]!.kernels;
  const shapes: Shape[] = params.map((p) => p.shape);
  const grads: Storage[] = params.map((p) => p.grad!.storage);
  const count = shapes.reduce((s, sh) => s + sh.reduce((a, b) => a * b, 1), 0);
  console.log(`fused optimizer benchmark: AlexNet, ${params.length} parameter tensors, ${(count / 1e6).toFixed(1)}M parameters, median of ${reps} steps (native backend)`);

  const sgdH: SgdHyper = { lr: 0.01, momentum: 0.9, dampening: 0, weightDecay: 5e-4, nesterov: false, maximize: false };
  const cases: { name: string; chain: Optimizer<{ lr: number }> | null; fused: () => void }[] = [];
  {
    const h: SgdHyper = { ...sgdH, momentum: 0, weightDecay: 0 };
    cases.push({ name: 'SGD (lr only, the lecture)', chain: new SGD({ params, lr: h.lr }), fused: () => void k.sgdStep(params.map((p) => p.storage), grads, [], shapes, h) });
  }
  {
    let bufs: (Storage | null)[] = params.map(() => null);
    cases.push({
      name: 'SGD momentum 0.9, weight decay 5e-4',
      chain: new SGD({ params, lr: sgdH.lr, momentum: sgdH.momentum, weightDecay: sgdH.weightDecay }),
      fused: () => {
        bufs = k.sgdStep(
          params.map((p) => p.storage),
          grads,
          bufs,
          shapes,
          sgdH,
        );
      },
    });
  }
  {
    const m = shapes.map((s) => k.full(s, 'float32', 0));
    const v = shapes.map((s) => k.full(s, 'float32', 0));
    let step = 0;
    const h = (): AdamHyper => ({ lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false, maximize: false, step: ++step });
    cases.push({ name: 'Adam', chain: new Adam({ params, lr: 1e-3 }), fused: () => k.adamStep(params.map((p) => p.storage), grads, m, v, shapes, h()) });
    const m2 = shapes.map((s) => k.full(s, 'float32', 0));
    const v2 = shapes.map((s) => k.full(s, 'float32', 0));
    let step2 = 0;
    cases.push({
      name: 'AdamW (weight decay 0.01)',
      chain: null,
      fused: () => k.adamStep(params.map((p) => p.storage), grads, m2, v2, shapes, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, decoupled: true, maximize: false, step: ++step2 }),
    });
  }

  console.log(`| optimizer | chain of kernels (src/optim today) ms/step | fused kernel ms/step | saved |`);
  console.log('|---|---:|---:|---:|');
  for (const c of cases) {
    const tc: number[] = [];
    const tf: number[] = [];
    c.chain?.step(); // warm-up (first step creates state)
    c.fused();
    for (let r = 0; r < reps; r++) {
      if (c.chain !== null) {
        const t0 = performance.now();
        c.chain.step();
        tc.push(performance.now() - t0);
      }
      const t1 = performance.now();
      c.fused();
      tf.push(performance.now() - t1);
    }
    const mc = c.chain === null ? NaN : median(tc);
    const mf = median(tf);
    console.log(`| ${c.name} | ${Number.isNaN(mc) ? 'n/a (no AdamW in src/optim)' : mc.toFixed(1)} | ${mf.toFixed(1)} | ${Number.isNaN(mc) ? '' : `${(mc - mf).toFixed(1)} ms (${(mc / mf).toFixed(1)}x)`} |`);
  }
  console.log('(timings on the machine as it is; median per step)');
}

main();
