/**
 * Per-sample transforms on planar [C, H, W] float images, as torchvision's `Normalize`,
 * `RandomCrop(size, padding)`, `RandomHorizontalFlip(p)` (and a vertical flip, handy for
 * micrographs, which have no up), `RandomResizedCrop`, `RandomRotation`, `RandomAffine`,
 * `ColorJitter` (brightness, contrast), `RandomErasing`, `GaussianBlur` and `Compose`. Transforms
 * are plain serializable descriptions so that worker threads can apply them; the random ones draw
 * their parameters as torchvision's `get_params` do, from a seeded `Generator` (the loader derives
 * one per batch from its own generator, so results do not depend on the number of workers), and
 * apply them with the deterministic operations of functional.ts.
 */
import type { Generator } from '../tensor/random.js';
import {
  adjustBrightness,
  adjustContrast,
  affine,
  erase,
  gaussianBlur as blur,
  resizedCrop,
  rotate,
  roundHalfEven,
  type Interpolation,
} from './functional.js';

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

/** Crop a random area / aspect ratio and resize it to `size` (torchvision's `RandomResizedCrop`). */
export interface RandomResizedCropTransform {
  readonly kind: 'randomResizedCrop';
  readonly size: readonly [number, number];
  /** Range of the crop's area as a fraction of the image's. */
  readonly scale: readonly [number, number];
  /** Range of the crop's aspect ratio (width / height), sampled log-uniformly. */
  readonly ratio: readonly [number, number];
  readonly antialias: boolean;
}

/** Rotate by a uniform random angle in `degrees` (torchvision's `RandomRotation`). */
export interface RandomRotationTransform {
  readonly kind: 'randomRotation';
  readonly degrees: readonly [number, number];
  readonly interpolation: Interpolation;
  /** Value(s) outside the rotated image (one, or one per channel). */
  readonly fill: readonly number[];
  /** Centre in pixels (origin top-left), or null for the image centre. */
  readonly center: readonly [number, number] | null;
}

/** A random affine map (torchvision's `RandomAffine`). */
export interface RandomAffineTransform {
  readonly kind: 'randomAffine';
  readonly degrees: readonly [number, number];
  /** Maximal translation as fractions of width and height, or null. */
  readonly translate: readonly [number, number] | null;
  /** Range of the scale, or null (1). */
  readonly scale: readonly [number, number] | null;
  /** Ranges of the x shear and the y shear in degrees [xmin, xmax, ymin, ymax], or null. */
  readonly shear: readonly [number, number, number, number] | null;
  readonly interpolation: Interpolation;
  readonly fill: readonly number[];
  readonly center: readonly [number, number] | null;
}

/** Random brightness and contrast factors, applied in random order (torchvision's `ColorJitter`). */
export interface ColorJitterTransform {
  readonly kind: 'colorJitter';
  /** Range of the brightness factor, or null. */
  readonly brightness: readonly [number, number] | null;
  /** Range of the contrast factor, or null. */
  readonly contrast: readonly [number, number] | null;
}

/** Erase a random box with probability `p` (torchvision's `RandomErasing`, on the normalized or raw image). */
export interface RandomErasingTransform {
  readonly kind: 'randomErasing';
  readonly p: number;
  readonly scale: readonly [number, number];
  readonly ratio: readonly [number, number];
  /** A number, one per channel, or 'random' (standard normal noise per pixel). */
  readonly value: number | readonly number[] | 'random';
}

/** A Gaussian blur with a uniform random sigma (torchvision's `GaussianBlur`). */
export interface GaussianBlurTransform {
  readonly kind: 'gaussianBlur';
  readonly kernelSize: readonly [number, number];
  readonly sigma: readonly [number, number];
}

/** Transforms applied in order (torchvision's `Compose`). */
export interface ComposeTransform {
  readonly kind: 'compose';
  readonly transforms: readonly Transform[];
}

/**
 * A transform description (see `normalize`, `randomCrop`, `horizontalFlip`, `verticalFlip`,
 * `randomResizedCrop`, `randomRotation`, `randomAffine`, `colorJitter`, `randomErasing`,
 * `gaussianBlur`, `compose`).
 */
export type Transform =
  | NormalizeTransform
  | RandomCropTransform
  | FlipTransform
  | RandomResizedCropTransform
  | RandomRotationTransform
  | RandomAffineTransform
  | ColorJitterTransform
  | RandomErasingTransform
  | GaussianBlurTransform
  | ComposeTransform;

export type { Plane } from './plane.js';
import type { Plane } from './plane.js';

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

function range(v: number | readonly number[], name: string, what: string, opts: { symmetric?: boolean; min?: number } = {}): [number, number] {
  let r: [number, number];
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) throw new Error(`${name}: ${what} must be a number >= 0 or a [min, max] pair, got ${v}`);
    r = opts.symmetric === false ? [v, v] : [-v, v];
  } else {
    if (!Array.isArray(v) || v.length !== 2) throw new Error(`${name}: ${what} must be a number or a [min, max] pair, got ${JSON.stringify(v)}`);
    r = [v[0]!, v[1]!];
  }
  if (!r.every(Number.isFinite) || r[0] > r[1]) throw new Error(`${name}: ${what} must be a [min, max] pair with min <= max, got [${r.join(', ')}]`);
  if (opts.min !== undefined && r[0] < opts.min) throw new Error(`${name}: ${what} must be >= ${opts.min}, got [${r.join(', ')}]`);
  return r;
}

function pairOf(size: number | readonly [number, number], name: string, what: string): [number, number] {
  const s: [number, number] = typeof size === 'number' ? [size, size] : [size[0], size[1]];
  if (!s.every((v) => Number.isInteger(v) && v > 0)) throw new Error(`${name}: ${what} must be positive integers, got ${s.join('x')}`);
  return s;
}

function fillOf(fill: number | readonly number[], name: string): number[] {
  const f = typeof fill === 'number' ? [fill] : [...fill];
  if (f.length === 0 || !f.every(Number.isFinite)) throw new Error(`${name}: fill must be finite numbers, got ${String(fill)}`);
  return f;
}

function interpolationOf(v: Interpolation | undefined, name: string): Interpolation {
  const i = v ?? 'nearest';
  if (i !== 'nearest' && i !== 'bilinear') throw new Error(`${name}: interpolation must be 'nearest' or 'bilinear', got '${String(v)}'`);
  return i;
}

/** Options of `randomResizedCrop`. */
export interface RandomResizedCropOptions {
  /** Area fraction range (default [0.08, 1]). */
  scale?: readonly [number, number];
  /** Aspect ratio range (default [3/4, 4/3]). */
  ratio?: readonly [number, number];
  /** Antialias when the crop is shrunk (default false, torchvision's default for tensors). */
  antialias?: boolean;
}

/**
 * Crops a random part of the image — area fraction in `scale`, aspect ratio (log-uniform) in
 * `ratio`, up to 10 tries and then a central crop, as `transforms.RandomResizedCrop` — and resizes
 * it bilinearly to `size`.
 * @example randomResizedCrop(28, { scale: [0.64, 1] })
 */
export function randomResizedCrop(size: number | readonly [number, number], opts: RandomResizedCropOptions = {}): RandomResizedCropTransform {
  const name = 'randomResizedCrop';
  const scale = range(opts.scale ?? [0.08, 1], name, 'scale', { min: 0 });
  const ratio = range(opts.ratio ?? [3 / 4, 4 / 3], name, 'ratio');
  if (!(ratio[0] > 0)) throw new Error(`${name}: ratio must be positive, got [${ratio.join(', ')}]`);
  return { kind: 'randomResizedCrop', size: pairOf(size, name, 'size'), scale, ratio, antialias: opts.antialias ?? false };
}

/** Options of `randomRotation` and `randomAffine`. */
export interface GeometricOptions {
  /** 'nearest' (default, torchvision's) or 'bilinear'. */
  interpolation?: Interpolation;
  /** Value(s) outside the transformed image (default 0). */
  fill?: number | readonly number[];
  /** Centre in pixels (origin top-left), default the image centre. */
  center?: readonly [number, number] | null;
}

/**
 * Rotates by an angle drawn uniformly from `degrees` ([-d, d] for a number), counter-clockwise,
 * as `transforms.RandomRotation(degrees)` (nearest, fill 0 by default).
 * @example randomRotation(15)
 */
export function randomRotation(degrees: number | readonly [number, number], opts: GeometricOptions = {}): RandomRotationTransform {
  const name = 'randomRotation';
  return {
    kind: 'randomRotation',
    degrees: range(degrees, name, 'degrees'),
    interpolation: interpolationOf(opts.interpolation, name),
    fill: fillOf(opts.fill ?? 0, name),
    center: opts.center ?? null,
  };
}

/** Options of `randomAffine` (torchvision's arguments). */
export interface RandomAffineOptions extends GeometricOptions {
  /** Maximal translation as fractions [a, b] of width and height (default none). */
  translate?: readonly [number, number];
  /** Scale range (default none: 1). */
  scale?: readonly [number, number];
  /** Shear in degrees: a number s gives x shear in [-s, s]; [a, b] an x range; [a, b, c, d] x and y ranges. */
  shear?: number | readonly number[];
}

/**
 * A random affine map, as `transforms.RandomAffine(degrees, translate, scale, shear)`: angle
 * uniform in `degrees`, translation `round(U(-a·W, a·W))` / `round(U(-b·H, b·H))` pixels, scale
 * uniform in `scale`, shears uniform in their ranges.
 * @example randomAffine(10, { translate: [0.1, 0.1], scale: [0.9, 1.1] })
 */
export function randomAffine(degrees: number | readonly [number, number], opts: RandomAffineOptions = {}): RandomAffineTransform {
  const name = 'randomAffine';
  let translate: [number, number] | null = null;
  if (opts.translate !== undefined) {
    translate = [opts.translate[0], opts.translate[1]];
    if (!translate.every((v) => v >= 0 && v <= 1)) throw new Error(`${name}: translate values must be in [0, 1], got [${translate.join(', ')}]`);
  }
  let scale: [number, number] | null = null;
  if (opts.scale !== undefined) {
    scale = range(opts.scale, name, 'scale');
    if (!(scale[0] > 0)) throw new Error(`${name}: scale values must be positive, got [${scale.join(', ')}]`);
  }
  let shear: [number, number, number, number] | null = null;
  if (opts.shear !== undefined) {
    const s = opts.shear;
    if (typeof s === 'number') shear = [...range(s, name, 'shear'), 0, 0];
    else if (s.length === 2) shear = [...range([s[0]!, s[1]!], name, 'shear'), 0, 0];
    else if (s.length === 4) shear = [...range([s[0]!, s[1]!], name, 'shear x'), ...range([s[2]!, s[3]!], name, 'shear y')];
    else throw new Error(`${name}: shear must be a number or 2 or 4 values, got ${JSON.stringify(s)}`);
  }
  return {
    kind: 'randomAffine',
    degrees: range(degrees, name, 'degrees'),
    translate,
    scale,
    shear,
    interpolation: interpolationOf(opts.interpolation, name),
    fill: fillOf(opts.fill ?? 0, name),
    center: opts.center ?? null,
  };
}

/** Options of `colorJitter`: a number j gives factors in [max(0, 1 − j), 1 + j]; or a [min, max] pair. */
export interface ColorJitterOptions {
  brightness?: number | readonly [number, number];
  contrast?: number | readonly [number, number];
}

/**
 * Random brightness and contrast, as `transforms.ColorJitter(brightness, contrast)`: each factor
 * uniform in its range, applied in a random order.
 * @example colorJitter({ brightness: 0.2, contrast: 0.2 })
 */
export function colorJitter(opts: ColorJitterOptions): ColorJitterTransform {
  const name = 'colorJitter';
  const factor = (v: number | readonly [number, number] | undefined, what: string): [number, number] | null => {
    if (v === undefined) return null;
    if (typeof v === 'number') {
      if (!Number.isFinite(v) || v < 0) throw new Error(`${name}: ${what} must be a number >= 0 or a [min, max] pair, got ${v}`);
      return v === 0 ? null : [Math.max(0, 1 - v), 1 + v];
    }
    return range(v, name, what, { min: 0 });
  };
  const brightness = factor(opts.brightness, 'brightness');
  const contrast = factor(opts.contrast, 'contrast');
  return { kind: 'colorJitter', brightness, contrast };
}

/** Options of `randomErasing` (torchvision's defaults). */
export interface RandomErasingOptions {
  /** Probability of erasing (default 0.5). */
  p?: number;
  /** Area fraction range of the box (default [0.02, 0.33]). */
  scale?: readonly [number, number];
  /** Aspect ratio range of the box (default [0.3, 3.3]). */
  ratio?: readonly [number, number];
  /** Fill: a number (default 0), one per channel, or 'random' (normal noise). */
  value?: number | readonly number[] | 'random';
}

/**
 * Erases a random box with probability `p`, as `transforms.RandomErasing` (up to 10 tries to find
 * a box that fits, else no erasing).
 * @example randomErasing({ p: 0.25 })
 */
export function randomErasing(opts: RandomErasingOptions = {}): RandomErasingTransform {
  const name = 'randomErasing';
  const p = opts.p ?? 0.5;
  checkP(p, name);
  const scale = range(opts.scale ?? [0.02, 0.33], name, 'scale', { min: 0 });
  const ratio = range(opts.ratio ?? [0.3, 3.3], name, 'ratio');
  if (!(ratio[0] > 0)) throw new Error(`${name}: ratio must be positive`);
  const value = opts.value ?? 0;
  if (value !== 'random' && !(typeof value === 'number' ? Number.isFinite(value) : Array.isArray(value) && value.every(Number.isFinite))) {
    throw new Error(`${name}: value must be a number, a list of numbers or 'random', got ${JSON.stringify(value)}`);
  }
  return { kind: 'randomErasing', p, scale, ratio, value: Array.isArray(value) ? [...value] : value };
}

/**
 * A Gaussian blur with sigma uniform in `sigma` (a number: that sigma), odd `kernelSize`, as
 * `transforms.GaussianBlur(kernel_size, sigma=(0.1, 2.0))`.
 * @example gaussianBlur(3, [0.1, 1.0])
 */
export function gaussianBlur(kernelSize: number | readonly [number, number], sigma: number | readonly [number, number] = [0.1, 2.0]): GaussianBlurTransform {
  const name = 'gaussianBlur';
  const k = pairOf(kernelSize, name, 'kernelSize');
  if (k.some((v) => v % 2 === 0)) throw new Error(`${name}: kernelSize must be odd, got ${k.join('x')}`);
  const s = range(sigma, name, 'sigma', { symmetric: false });
  if (!(s[0] > 0)) throw new Error(`${name}: sigma must be positive, got [${s.join(', ')}]`);
  return { kind: 'gaussianBlur', kernelSize: k, sigma: s };
}

/**
 * Transforms applied in order, as `transforms.Compose` (a `Compose` is also a `Transform`, so it
 * nests and goes wherever a transform list does).
 * @example compose(horizontalFlip(), randomResizedCrop(28, { scale: [0.64, 1] }), colorJitter({ brightness: 0.2 }))
 */
export function compose(...transforms: (Transform | readonly Transform[])[]): ComposeTransform {
  const list = transforms.flat() as Transform[];
  for (const t of list) if (t === null || typeof t !== 'object' || typeof (t as { kind?: unknown }).kind !== 'string') throw new Error('compose: expected transforms');
  return { kind: 'compose', transforms: list };
}

/** True when the transform draws random numbers. */
export function isRandomTransform(t: Transform): boolean {
  if (t.kind === 'compose') return t.transforms.some(isRandomTransform);
  return t.kind !== 'normalize';
}

/** U(a, b) from `rng` (torch's `uniform_`). */
function uniform(rng: Generator, a: number, b: number): number {
  return a + (b - a) * rng.random();
}

/**
 * torchvision's `RandomResizedCrop.get_params`: the crop box [top, left, height, width] for an
 * `height` x `width` image, drawn from `rng`.
 */
export function randomResizedCropParams(
  rng: Generator,
  height: number,
  width: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
): [number, number, number, number] {
  const area = height * width;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * uniform(rng, scale[0], scale[1]);
    const aspect = Math.exp(uniform(rng, logRatio[0], logRatio[1]));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const i = rng.randint(height - h + 1);
      const j = rng.randint(width - w + 1);
      return [i, j, h, w];
    }
  }
  // Fallback to central crop
  const inRatio = width / height;
  let w: number;
  let h: number;
  if (inRatio < Math.min(...ratio)) {
    w = width;
    h = roundHalfEven(w / Math.min(...ratio));
  } else if (inRatio > Math.max(...ratio)) {
    h = height;
    w = roundHalfEven(h * Math.max(...ratio));
  } else {
    w = width;
    h = height;
  }
  return [Math.floor((height - h) / 2), Math.floor((width - w) / 2), h, w];
}

/**
 * torchvision's `RandomErasing.get_params`: the box [top, left, height, width] to erase, or null
 * when 10 tries found none that fits.
 */
export function randomErasingParams(
  rng: Generator,
  height: number,
  width: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
): [number, number, number, number] | null {
  const area = height * width;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt++) {
    const eraseArea = area * uniform(rng, scale[0], scale[1]);
    const aspect = Math.exp(uniform(rng, logRatio[0], logRatio[1]));
    const h = roundHalfEven(Math.sqrt(eraseArea * aspect));
    const w = roundHalfEven(Math.sqrt(eraseArea / aspect));
    if (!(h < height && w < width)) continue;
    const i = rng.randint(height - h + 1);
    const j = rng.randint(width - w + 1);
    return [i, j, h, w];
  }
  return null;
}

/** The sampled parameters of a `RandomAffine`: angle, translation [tx, ty], scale, shear [sx, sy]. */
export function randomAffineParams(rng: Generator, t: RandomAffineTransform, height: number, width: number): [number, [number, number], number, [number, number]] {
  const angle = uniform(rng, t.degrees[0], t.degrees[1]);
  let translations: [number, number] = [0, 0];
  if (t.translate !== null) {
    const maxDx = t.translate[0] * width;
    const maxDy = t.translate[1] * height;
    translations = [roundHalfEven(uniform(rng, -maxDx, maxDx)), roundHalfEven(uniform(rng, -maxDy, maxDy))];
  }
  const scale = t.scale !== null ? uniform(rng, t.scale[0], t.scale[1]) : 1.0;
  let shear: [number, number] = [0, 0];
  if (t.shear !== null) {
    shear = [uniform(rng, t.shear[0], t.shear[1]), t.shear[2] === 0 && t.shear[3] === 0 ? 0 : uniform(rng, t.shear[2], t.shear[3])];
  }
  return [angle, translations, scale, shear];
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
    case 'randomResizedCrop':
      return [c, t.size[0], t.size[1]];
    case 'compose': {
      let s: [number, number, number] = [c, h, w];
      for (const u of t.transforms) s = transformShape(u, s);
      return s;
    }
    case 'randomRotation':
    case 'randomAffine':
      if (t.fill.length !== 1 && t.fill.length !== c) throw new Error(`${t.kind}: ${t.fill.length} fill values for ${c} channels`);
      return [c, h, w];
    case 'colorJitter':
      if (t.contrast !== null && c !== 1 && c !== 3) throw new Error(`colorJitter: contrast needs 1 or 3 channels, got ${c}`);
      return [c, h, w];
    case 'randomErasing':
      if (Array.isArray(t.value) && t.value.length !== c) throw new Error(`randomErasing: ${t.value.length} values for ${c} channels`);
      return [c, h, w];
    case 'gaussianBlur':
      if (t.kernelSize[0] >> 1 >= w || t.kernelSize[1] >> 1 >= h) {
        throw new Error(`gaussianBlur: a ${t.kernelSize.join('x')} kernel is too large for ${h}x${w} images (reflect padding)`);
      }
      return [c, h, w];
    default:
      return [c, h, w];
  }
}

/**
 * Applies one transform. In-place transforms return `img`; shape-changing ones write into
 * `scratch` when it is large enough (else a new array); the geometric and photometric ones return
 * new arrays.
 */
export function applyTransform(t: Transform, img: Plane, rng: Generator | null, scratch?: Float32Array): Plane {
  const { data, c, h, w } = img;
  const need = (): Generator => {
    if (rng === null) throw new Error(`${t.kind} needs a random generator`);
    return rng;
  };
  switch (t.kind) {
    case 'compose': {
      let out = img;
      for (const u of t.transforms) out = applyTransform(u, out, rng);
      return out;
    }
    case 'randomResizedCrop': {
      const [i, j, bh, bw] = randomResizedCropParams(need(), h, w, t.scale, t.ratio);
      return resizedCrop(img, i, j, bh, bw, t.size, { antialias: t.antialias });
    }
    case 'randomRotation': {
      const angle = uniform(need(), t.degrees[0], t.degrees[1]);
      return rotate(img, angle, { interpolation: t.interpolation, fill: t.fill, center: t.center });
    }
    case 'randomAffine': {
      const [angle, translate, scale, shear] = randomAffineParams(need(), t, h, w);
      return affine(img, { angle, translate, scale, shear }, { interpolation: t.interpolation, fill: t.fill, center: t.center });
    }
    case 'colorJitter': {
      const g = need();
      // torchvision: fn_idx = randperm(4), then the factors; here the two ops brightness (0), contrast (1).
      const order = g.permutation(2);
      const b = t.brightness !== null ? uniform(g, t.brightness[0], t.brightness[1]) : null;
      const k = t.contrast !== null ? uniform(g, t.contrast[0], t.contrast[1]) : null;
      let out = img;
      for (const op of order) {
        if (op === 0 && b !== null) out = adjustBrightness(out, b);
        else if (op === 1 && k !== null) out = adjustContrast(out, k);
      }
      return out;
    }
    case 'randomErasing': {
      const g = need();
      if (!(g.random() < t.p)) return img;
      const box = randomErasingParams(g, h, w, t.scale, t.ratio);
      if (box === null) return img;
      const [i, j, bh, bw] = box;
      let value: number | Float32Array;
      if (t.value === 'random') {
        value = new Float32Array(c * bh * bw);
        for (let n = 0; n < value.length; n++) value[n] = g.normal();
      } else value = typeof t.value === 'number' ? t.value : Float32Array.from(t.value);
      return erase(img, i, j, bh, bw, value);
    }
    case 'gaussianBlur': {
      const sigma = uniform(need(), t.sigma[0], t.sigma[1]);
      return blur(img, t.kernelSize, [sigma, sigma]);
    }
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
