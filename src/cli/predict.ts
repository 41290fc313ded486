/**
 * `convnet predict <run-dir|checkpoint> <image...>`: the most probable classes of image files
 * (PNG, TIFF, JPEG), decoded and resized as the model's training data was.
 */
import { statSync } from 'node:fs';
import { noGrad } from '../autograd/grad-mode.js';
import { tensor } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import { decodeImage } from '../data/decode.js';
import { resizeBilinear } from '../data/resize.js';
import { CliError, boolFlag, intFlag } from './args.js';
import { jsonOption, type Command } from './command.js';
import { loadRun } from './run-dir.js';

/** One predicted class. */
export interface ClassProbability {
  /** Class index. */
  index: number;
  /** Class name. */
  class: string;
  /** Softmax probability. */
  probability: number;
}

/**
 * Softmax of one row of logits (in float64, max-subtracted) and its `k` most probable classes,
 * most probable first.
 * @example topK([2, 1, 0], ['a', 'b', 'c'], 2) // [{ index: 0, class: 'a', probability: 0.665 }, { index: 1, ... }]
 */
export function topK(logits: ArrayLike<number>, classNames: readonly string[], k: number): ClassProbability[] {
  const row = Array.from(logits);
  const max = Math.max(...row);
  const exps = row.map((v) => Math.exp(v - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps
    .map((e, index) => ({ index, class: classNames[index] ?? String(index), probability: e / total }))
    .sort((a, b) => b.probability - a.probability || a.index - b.index)
    .slice(0, k);
}

/** The `predict` command. */
export const predictCommand: Command = {
  name: 'predict',
  summary: 'top-k classes of image files with a trained model',
  description: `Classifies image files (PNG, TIFF, JPEG) with a model trained by 'convnet train'. Each image is decoded as the training images were (grey or RGB like them, pixels scaled to [0, 1]) and resized bilinearly to the model's input size with the training data's filter (antialiased for image folders, plain bilinear for Fashion-MNIST). Fashion-MNIST models expect light garments on a black background, as in the dataset.`,
  arguments: [
    { name: '<run-dir|checkpoint>', help: "a run folder of 'convnet train', or its checkpoint.safetensors" },
    { name: '<image...>', help: 'image files (PNG, TIFF, JPEG)' },
  ],
  options: [
    { name: 'top-k', value: 'K', help: 'classes shown per image (default 5)' },
    jsonOption('one JSON line per image: {"image", "top": [{"index", "class", "probability"}]}'),
  ],
  async run(args) {
    const k = intFlag(args, 'top-k', 1) ?? 5;
    const [runArg, ...images] = args.positionals as [string, ...string[]];
    for (const img of images) {
      let isFile = false;
      try {
        isFile = statSync(img).isFile();
      } catch {
        throw new CliError(`${img}: no such image file`);
      }
      if (!isFile) throw new CliError(`${img}: not a file`);
    }
    const { model, config } = loadRun(runArg);
    const [H, W] = config.resize;
    const C = config.channels;
    if (C !== 1 && C !== 3) throw new CliError(`${runArg}: the model takes ${C}-channel images; predict reads grey or RGB images only`);
    const size = C * H * W;
    const pixels = new Float32Array(images.length * size);
    for (let i = 0; i < images.length; i++) {
      let img;
      try {
        img = await decodeImage(images[i]!, { channels: C as 1 | 3 });
      } catch (e) {
        throw new CliError((e as Error).message);
      }
      resizeBilinear(img.data, C, img.h, img.w, H, W, { antialias: config.antialias, out: pixels.subarray(i * size, (i + 1) * size) });
    }
    const out = tidy(() => noGrad(() => model.call(tensor(pixels, { shape: [images.length, C, H, W] }))));
    const logits = Float32Array.from(await out.data());
    out.dispose();
    const n = config.classNames.length;
    const kk = Math.min(k, n);
    images.forEach((img, i) => {
      const top = topK(logits.subarray(i * n, (i + 1) * n), config.classNames, kk);
      if (boolFlag(args, 'json')) {
        console.log(JSON.stringify({ image: img, top }));
        return;
      }
      console.log(img);
      const w = Math.max(...top.map((t) => t.class.length));
      top.forEach((t, r) => console.log(`  ${r + 1}. ${t.class.padEnd(w)}  ${t.probability.toFixed(4)}`));
    });
    return 0;
  },
};
