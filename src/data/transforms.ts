/**
 * Per-sample transforms on planar [C, H, W] float images, as torchvision's `Normalize`,
 * `RandomCrop(size, padding)`, `RandomHorizontalFlip(p)` (and a vertical flip, handy for
 * micrographs, which have no up). Transforms are plain serializable descriptions so that worker
 * threads can apply them; the random ones draw from a seeded `Generator` (the loader derives one
 * per batch from its own generator, so results do not depend on the number of workers).
 */
import type { Generator } from '../tensor/random.js';

/** Subtract `mean` and divide by `std`, per channel (arrays of length 1 or C). */
export interface NormalizeTransform {
  readonly kind: 'normalize';
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

/** Pad by `padding` pixels with `fill`, then crop a random `size` window. */
export interface RandomCropTransform {
  readonly kind: 'randomCrop';
  readonly size: readonly [number, number];
  readonly padding: number;
  readonly fill: number;
}

/** Mirror left-right (or, for `verticalFlip`, top-bottom) with probability `p`. */
export interface FlipTransform {
  readonly kind: 'horizontalFlip' | 'verticalFlip';
  readonly p: number;
}

/** A transform description (see `normalize`, `randomCrop`, `horizontalFlip`, `verticalFlip`). */
export type Transform = NormalizeTransform | RandomCropTransform | FlipTransform;

/** A planar float image. */
export interface Plane {
  /** [C, H, W] row-major values. */
  data: Float32Array;
  /** Channels. */
  c: number;
  /** Height. */
  h: number;
  /** Width. */
  w: number;
}

/**
 * Normalizes each channel: (x - mean) / std, as `transforms.Normalize`.
 * @example normalize([0.2860], [0.3530]) // Fashion-MNIST's statistics
 */
export function normalize(mean: number | readonly number[], std: number | readonly number[]): NormalizeTransform {
  const m = typeof mean === 'number' ? [mean] : [...mean];
  const s = typeof std === 'number' ? [std] : [...std];
  if (m.length === 0 || s.length === 0) throw new Error('normalize: mean and std must not be empty');
  for (const v of s) if (!(Number.isFinite(v) && v !== 0)) throw new Error(`normalize: std values must be finite and nonzero, got ${v}`);
  for (const v of m) if (!Number.isFinite(v)) throw new Error(`normalize: mean values must be finite, got ${v}`);
  return { kind: 'normalize', mean: m, std: s };
}

/**
 * Pads with `padding` pixels of `fill` on every side, then crops a random `size` window,
 * as `transforms.RandomCrop(size, padding)`.
 * @example randomCrop(28, 2)
 */
export function randomCrop(size: number | readonly [number, number], padding = 0, fill = 0): RandomCropTransform {
  const s: [number, number] = typeof size === 'number' ? [size, size] : [size[0], size[1]];
  if (!s.every((v) => Number.isInteger(v) && v > 0)) throw new Error(`randomCrop: size must be positive integers, got ${s.join('x')}`);
  if (!Number.isInteger(padding) || padding < 0) throw new Error(`randomCrop: padding must be a non-negative integer, got ${padding}`);
  return { kind: 'randomCrop', size: s, padding, fill };
}

function checkP(p: number, name: string): void {
  if (!(p >= 0 && p <= 1)) throw new Error(`${name}: p must be in [0, 1], got ${p}`);
}

/** Mirrors left-right with probability `p`, as `transforms.RandomHorizontalFlip(p)`. */
export function horizontalFlip(p = 0.5): FlipTransform {
  checkP(p, 'horizontalFlip');
  return { kind: 'horizontalFlip', p };
}

/** Mirrors top-bottom with probability `p`, as `transforms.RandomVerticalFlip(p)`. */
export function verticalFlip(p = 0.5): FlipTransform {
  checkP(p, 'verticalFlip');
  return { kind: 'verticalFlip', p };
}

/** True when the transform draws random numbers. */
export function isRandomTransform(t: Transform): boolean {
  return t.kind !== 'normalize';
}

/** The [C, H, W] a transform produces from `shape` (throws when it cannot apply). */
export function transformShape(t: Transform, shape: readonly [number, number, number]): [number, number, number] {
  const [c, h, w] = shape;
  switch (t.kind) {
    case 'normalize':
      if (t.mean.length !== 1 && t.mean.length !== c) throw new Error(`normalize: ${t.mean.length} means for ${c} channels`);
      if (t.std.length !== 1 && t.std.length !== c) throw new Error(`normalize: ${t.std.length} stds for ${c} channels`);
      return [c, h, w];
    case 'randomCrop':
      if (h + 2 * t.padding < t.size[0] || w + 2 * t.padding < t.size[1]) {
        throw new Error(`randomCrop: crop ${t.size.join('x')} is larger than the padded image ${h + 2 * t.padding}x${w + 2 * t.padding}`);
      }
      return [c, t.size[0], t.size[1]];
    default:
      return [c, h, w];
  }
}

/**
 * Applies one transform. In-place transforms return `img`; shape-changing ones write into
 * `scratch` when it is large enough (else a new array).
 */
export function applyTransform(t: Transform, img: Plane, rng: Generator | null, scratch?: Float32Array): Plane {
  const { data, c, h, w } = img;
  switch (t.kind) {
    case 'normalize': {
      for (let k = 0; k < c; k++) {
        const m = t.mean.length === 1 ? t.mean[0]! : t.mean[k]!;
        const inv = 1 / (t.std.length === 1 ? t.std[0]! : t.std[k]!);
        const base = k * h * w;
        for (let i = 0; i < h * w; i++) data[base + i] = (data[base + i]! - m) * inv;
      }
      return img;
    }
    case 'horizontalFlip': {
      if (rng === null) throw new Error('horizontalFlip needs a random generator');
      if (!(rng.random() < t.p)) return img;
      for (let r = 0; r < c * h; r++) {
        const base = r * w;
        for (let i = 0, j = w - 1; i < j; i++, j--) {
          const tmp = data[base + i]!;
          data[base + i] = data[base + j]!;
          data[base + j] = tmp;
        }
      }
      return img;
    }
    case 'verticalFlip': {
      if (rng === null) throw new Error('verticalFlip needs a random generator');
      if (!(rng.random() < t.p)) return img;
      const row = new Float32Array(w);
      for (let k = 0; k < c; k++) {
        const base = k * h * w;
        for (let i = 0, j = h - 1; i < j; i++, j--) {
          row.set(data.subarray(base + i * w, base + (i + 1) * w));
          data.copyWithin(base + i * w, base + j * w, base + (j + 1) * w);
          data.set(row, base + j * w);
        }
      }
      return img;
    }
    case 'randomCrop': {
      if (rng === null) throw new Error('randomCrop needs a random generator');
      const [th, tw] = t.size;
      const p = t.padding;
      const ph = h + 2 * p;
      const pw = w + 2 * p;
      if (ph < th || pw < tw) transformShape(t, [c, h, w]);
      // Offsets in the padded image, as torchvision: randint(0, ph - th + 1).
      const top = rng.randint(ph - th + 1);
      const left = rng.randint(pw - tw + 1);
      const n = c * th * tw;
      const out = scratch !== undefined && scratch.length >= n && scratch.buffer !== data.buffer ? scratch.subarray(0, n) : new Float32Array(n);
      for (let k = 0; k < c; k++) {
        for (let y = 0; y < th; y++) {
          const sy = top + y - p;
          const orow = k * th * tw + y * tw;
          if (sy < 0 || sy >= h) {
            out.fill(t.fill, orow, orow + tw);
            continue;
          }
          const srow = k * h * w + sy * w;
          for (let x = 0; x < tw; x++) {
            const sx = left + x - p;
            out[orow + x] = sx < 0 || sx >= w ? t.fill : data[srow + sx]!;
          }
        }
      }
      return { data: out, c, h: th, w: tw };
    }
  }
}
