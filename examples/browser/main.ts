/**
 * The browser example: trains the lecture's BN-LeNet on a Fashion-MNIST subset with live curves,
 * on WebGPU when the browser has it and on the reference (pure TypeScript) backend otherwise.
 * Loaded by index.html as app.js; the import below becomes `./convnet.js`, the core bundle
 * (scripts/build-browser.mjs).
 *
 * Query parameters (all optional): backend=auto|webgpu|reference, steps (default 500),
 * batch (64), lr (0.1), logEvery (5 steps between loss read-backs), evalEvery (100 steps
 * between held-out accuracy evaluations).
 *
 * `window.__convnet` exposes the run's state (backend, losses, accuracies, redraws, done, error) for
 * tests (test/browser-example.test.ts).
 */
import * as cn from '../../src/browser.js';

/** Everything the page shows, also read by the tests. */
interface RunState {
  backend: string;
  adapter: string;
  /** Why the reference backend is used, when it is. */
  note: string;
  step: number;
  steps: number;
  batch: number;
  /** [step, loss] every logEvery steps. */
  losses: [number, number][];
  /** [step, held-out accuracy]. */
  accuracies: [number, number][];
  finalAccuracy: number;
  /** Number of times the curves were redrawn. */
  redraws: number;
  imagesPerSec: number;
  done: boolean;
  error: string | null;
}

const params = new URLSearchParams(location.search);
function num(name: string, def: number): number {
  const v = params.get(name);
  const n = v === null ? def : Number(v);
  return Number.isFinite(n) && n > 0 ? n : def;
}
const want = params.get('backend') ?? 'auto';
const state: RunState = {
  backend: '',
  adapter: '',
  note: '',
  step: 0,
  steps: Math.floor(num('steps', 500)),
  batch: Math.floor(num('batch', 64)),
  losses: [],
  accuracies: [],
  finalAccuracy: NaN,
  redraws: 0,
  imagesPerSec: 0,
  done: false,
  error: null,
};
(window as unknown as { __convnet: RunState }).__convnet = state;
const lr = num('lr', 0.1);
const logEvery = Math.floor(num('logEvery', 5));
const evalEvery = Math.floor(num('evalEvery', 100));

const $ = (id: string): HTMLElement => document.getElementById(id)!;

function status(text: string): void {
  $('status').textContent = text;
}

/** The dataset written by make-data.js. */
interface Subset {
  rows: number;
  cols: number;
  trainImages: Uint8Array;
  trainLabels: Uint8Array;
  testImages: Uint8Array;
  testLabels: Uint8Array;
}

async function loadSubset(url: string): Promise<Subset> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} (generate it with node dist/examples/browser/make-data.js)`);
  const buf = await res.arrayBuffer();
  const h = new Uint32Array(buf, 0, 6);
  const magic = String.fromCharCode(...new Uint8Array(buf, 0, 4));
  if (magic !== 'CNFM' || h[1] !== 1) throw new Error(`${url}: not a convnet Fashion-MNIST subset (magic ${magic}, version ${h[1]})`);
  const [nTrain, nTest, rows, cols] = [h[2]!, h[3]!, h[4]!, h[5]!];
  const px = rows * cols;
  let off = 24;
  const take = (n: number): Uint8Array => {
    const a = new Uint8Array(buf, off, n);
    off += n;
    return a;
  };
  const trainImages = take(nTrain * px);
  const trainLabels = take(nTrain);
  const testImages = take(nTest * px);
  const testLabels = take(nTest);
  return { rows, cols, trainImages, trainLabels, testImages, testLabels };
}

/** Picks WebGPU when the browser offers an adapter (unless told otherwise), else the reference backend. */
async function chooseBackend(): Promise<void> {
  if (want !== 'reference') {
    try {
      await cn.useBackend('webgpu');
      state.backend = 'webgpu';
      state.adapter = cn.webgpuKernels()?.info.adapter ?? '';
      return;
    } catch (e) {
      if (want === 'webgpu') throw e;
      state.note = (e as Error).message;
    }
  } else state.note = 'reference backend requested';
  await cn.useBackend('reference');
  state.backend = 'reference';
}

/** Images [start, start + n) (wrapping around) as float32 in [0, 1] and their labels. */
function batchAt(images: Uint8Array, labels: Uint8Array, px: number, order: Int32Array, start: number, n: number): { x: Float32Array; y: Int32Array } {
  const x = new Float32Array(n * px);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const j = order[(start + i) % order.length]!;
    y[i] = labels[j]!;
    for (let p = 0; p < px; p++) x[i * px + p] = images[j * px + p]! / 255;
  }
  return { x, y };
}

/** Reads a tensor's values (asynchronously: a GPU cannot answer synchronously), then frees it. */
async function values(t: cn.Tensor): Promise<ArrayLike<number>> {
  const v = await t.data();
  t.dispose();
  return v;
}

/** Held-out accuracy in eval mode (running batch-norm statistics), 250 images at a time. */
async function evaluate(model: cn.train.Classifier, d: Subset): Promise<number> {
  const px = d.rows * d.cols;
  const n = d.testLabels.length;
  const all = Int32Array.from({ length: n }, (_, i) => i);
  model.eval();
  let correct = 0;
  for (let s = 0; s < n; s += 250) {
    const m = Math.min(250, n - s);
    const { x, y } = batchAt(d.testImages, d.testLabels, px, all, s, m);
    const pred = cn.noGrad(() => cn.tidy(() => model.call(cn.tensor(x, { shape: [m, 1, d.rows, d.cols] })).argmax(1)));
    const p = await values(pred);
    for (let i = 0; i < m; i++) if (p[i] === y[i]) correct++;
  }
  model.train();
  return correct / n;
}

/** Draws one series into a canvas: axes, y range from the data (or fixed), the polyline. */
function plot(canvas: HTMLCanvasElement, pts: [number, number][], xMax: number, yRange: [number, number] | null, color: string, label: string): void {
  const ctx = canvas.getContext('2d')!;
  const W = canvas.width;
  const H = canvas.height;
  const pad = { l: 44, r: 10, t: 18, b: 24 };
  ctx.clearRect(0, 0, W, H);
  ctx.font = '12px sans-serif';
  ctx.fillStyle = '#333';
  ctx.fillText(label, pad.l, 12);
  const ys = pts.map((p) => p[1]);
  const [y0, y1] = yRange ?? [Math.min(0, ...ys), Math.max(1e-6, ...ys)];
  const X = (x: number): number => pad.l + ((W - pad.l - pad.r) * x) / Math.max(xMax, 1);
  const Y = (y: number): number => H - pad.b - ((H - pad.t - pad.b) * (y - y0)) / (y1 - y0 || 1);
  ctx.strokeStyle = '#999';
  ctx.beginPath();
  ctx.moveTo(pad.l, pad.t);
  ctx.lineTo(pad.l, H - pad.b);
  ctx.lineTo(W - pad.r, H - pad.b);
  ctx.stroke();
  ctx.fillText(y1.toFixed(2), 4, pad.t + 4);
  ctx.fillText(y0.toFixed(2), 4, H - pad.b);
  ctx.fillText('0', pad.l, H - 8);
  ctx.fillText(String(xMax), W - pad.r - 30, H - 8);
  ctx.strokeStyle = color;
  ctx.lineWidth = 2;
  ctx.beginPath();
  pts.forEach(([x, y], i) => (i === 0 ? ctx.moveTo(X(x), Y(y)) : ctx.lineTo(X(x), Y(y))));
  ctx.stroke();
}

function redraw(): void {
  plot($('loss') as HTMLCanvasElement, state.losses, state.steps, null, '#1f77b4', 'train loss');
  plot($('acc') as HTMLCanvasElement, state.accuracies, state.steps, [0, 1], '#d62728', 'held-out accuracy');
  state.redraws++;
}

async function main(): Promise<void> {
  status('choosing a backend ...');
  await chooseBackend();
  $('backend').textContent =
    state.backend === 'webgpu' ? `WebGPU (${state.adapter})` : `reference backend (TypeScript on the CPU)${state.note ? ` — ${state.note}` : ''}`;
  status('loading Fashion-MNIST ...');
  const d = await loadSubset('fashion-subset.bin');
  const px = d.rows * d.cols;
  const nTrain = d.trainLabels.length;
  cn.manualSeed(0);
  const model = new cn.models.BNLeNet({ lr });
  const opt = model.configureOptimizers();
  const gen = new cn.Generator(1);
  let order = gen.permutation(nTrain);
  const t0 = performance.now();
  for (let s = 0; s < state.steps; s++) {
    const start = (s * state.batch) % nTrain;
    if (s > 0 && start < state.batch) order = gen.permutation(nTrain); // a new epoch
    const { x, y } = batchAt(d.trainImages, d.trainLabels, px, order, start, state.batch);
    const loss = cn.tidy(() => {
      const l = model.trainingStep({ x: cn.tensor(x, { shape: [state.batch, 1, d.rows, d.cols] }), y: cn.tensor(y) });
      opt.zeroGrad();
      l.backward();
      opt.step();
      return l;
    });
    state.step = s + 1;
    if (state.step % logEvery === 0 || state.step === state.steps) {
      // Reading back waits for the device; in between, steps are only queued.
      const [v] = Array.from(await values(loss));
      if (!Number.isFinite(v!)) throw new Error(`the loss is ${v} at step ${state.step}`);
      state.losses.push([state.step, v!]);
      state.imagesPerSec = (state.step * state.batch) / ((performance.now() - t0) / 1000);
      status(`step ${state.step}/${state.steps} · loss ${v!.toFixed(3)} · ${state.imagesPerSec.toFixed(0)} images/s`);
      redraw();
    } else {
      loss.dispose();
      // Let the page paint now and then (the reference backend computes on this thread).
      if (state.step % 2 === 0) await new Promise((r) => setTimeout(r, 0));
    }
    if (state.step % evalEvery === 0 && state.step !== state.steps) {
      state.accuracies.push([state.step, await evaluate(model, d)]);
      redraw();
    }
  }
  state.finalAccuracy = await evaluate(model, d);
  state.accuracies.push([state.steps, state.finalAccuracy]);
  redraw();
  status(`done: ${state.steps} steps of ${state.batch} images, held-out accuracy ${(100 * state.finalAccuracy).toFixed(1)}% · ${state.imagesPerSec.toFixed(0)} images/s`);
  state.done = true;
}

main().catch((e: unknown) => {
  state.error = e instanceof Error ? e.message : String(e);
  status(`error: ${state.error}`);
});
