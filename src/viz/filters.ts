/**
 * The first-layer filter figure of the AlexNet lecture: every kernel of a convolution weight
 * [O, C, kh, kw] as a small image in a grid, so one can see the edge and colour detectors the
 * network learned.
 */
import sharp from 'sharp';
import type { Tensor } from '../tensor/tensor.js';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeBytesAtomic } from '../io/atomic.js';

/** Options of `saveFiltersPng`. */
export interface FiltersPngOptions {
  /** Each kernel pixel becomes a `scale`×`scale` block (default: enough for tiles of ≥ 32 px). */
  scale?: number;
  /** Tiles per row (default ⌈√O⌉). */
  columns?: number;
}

/** Grey level of the 1-px gaps between tiles (white, so dark filter edges stay distinguishable). */
const GAP = 255;

/**
 * Writes the kernels of a convolution `weight` [O, C, kh, kw] as a PNG grid: C = 1 gives a
 * grayscale image, C = 3 an RGB one (channel 0 = red). Each kernel is normalised to its own
 * min..max over all its channels (min → 0, max → 255, rounded; a constant kernel is mid-grey 128),
 * upscaled by nearest neighbour, and tiles are laid out row-major with 1-px white gaps between them
 * and around the edge: tile k's top-left pixel is at (1 + col·(kw·scale + 1), 1 + row·(kh·scale + 1)).
 * @example await saveFiltersPng(model.layers[0].weight, 'runs/alexnet/filters.png');
 */
export async function saveFiltersPng(weight: Tensor, path: string, opts: FiltersPngOptions = {}): Promise<void> {
  if (weight.ndim !== 4) throw new Error(`saveFiltersPng: expected a convolution weight [O, C, kh, kw], got shape [${weight.shape.join(', ')}]`);
  const [o, c, kh, kw] = weight.shape as [number, number, number, number];
  if (c !== 1 && c !== 3) {
    throw new Error(`saveFiltersPng: kernels with ${c} input channels cannot be shown as images (need 1 for grayscale or 3 for RGB; use the first layer)`);
  }
  if (o === 0 || kh === 0 || kw === 0) throw new Error(`saveFiltersPng: weight of shape [${weight.shape.join(', ')}] has no kernels to draw`);
  const scale = opts.scale ?? Math.max(1, Math.ceil(32 / Math.max(kh, kw)));
  const columns = Math.min(opts.columns ?? Math.ceil(Math.sqrt(o)), o);
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`saveFiltersPng: scale must be a positive integer, got ${opts.scale}`);
  if (!Number.isInteger(columns) || columns < 1) throw new Error(`saveFiltersPng: columns must be a positive integer, got ${opts.columns}`);
  const rows = Math.ceil(o / columns);
  const tileW = kw * scale;
  const tileH = kh * scale;
  const width = columns * (tileW + 1) + 1;
  const height = rows * (tileH + 1) + 1;
  const data = await weight.data();
  const img = Buffer.alloc(width * height * c, GAP);
  const per = c * kh * kw;
  for (let k = 0; k < o; k++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < per; i++) {
      const v = data[k * per + i]!;
      if (!Number.isFinite(v)) throw new Error(`saveFiltersPng: kernel ${k} contains ${v} (did training diverge?)`);
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const range = hi - lo;
    const x0 = 1 + (k % columns) * (tileW + 1);
    const y0 = 1 + Math.floor(k / columns) * (tileH + 1);
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        for (let ch = 0; ch < c; ch++) {
          const v = data[k * per + (ch * kh + i) * kw + j]!;
          const g = range > 0 ? Math.round(((v - lo) / range) * 255) : 128;
          for (let dy = 0; dy < scale; dy++) {
            const row = (y0 + i * scale + dy) * width;
            for (let dx = 0; dx < scale; dx++) img[(row + x0 + j * scale + dx) * c + ch] = g;
          }
        }
      }
    }
  }
  let pipeline = sharp(img, { raw: { width, height, channels: c } });
  if (c === 1) pipeline = pipeline.toColourspace('b-w');
  mkdirSync(dirname(path), { recursive: true }); // figures may go to a run folder not made yet
  writeBytesAtomic(path, await pipeline.png().toBuffer());
}
