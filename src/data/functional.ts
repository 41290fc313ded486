/**
 * Deterministic image operations on planar [C, H, W] float images, as
 * `torchvision.transforms.functional` computes them on float *tensors* (torchvision 0.14): a crop
 * box resized, rotations and affine maps (the inverse matrix, the sampling grid and `grid_sample`
 * with align_corners=False, nearest or bilinear, with torchvision's fill mask), brightness and
 * contrast, erasing a box, and a Gaussian blur with reflect padding. The random transforms
 * (transforms.ts) draw their parameters and call these; the tests compare these against
 * torchvision on fixed parameters.
 *
 * Precision: torchvision builds the sampling grid in float32; it is emulated here (`Math.fround`
 * at each step of theta, grid and source index) so that nearest-neighbour sampling picks the same
 * pixels except at exact rounding ties of the float32 arithmetic.
 */
import { resizeBilinear } from './resize.js';
import type { Plane } from './plane.js';

const f32 = Math.fround;

/** How `affine` / `rotate` sample the source image. */
export type Interpolation = 'nearest' | 'bilinear';

function checkPlane(img: Plane, op: string): void {
  const { c, h, w, data } = img;
  if (![c, h, w].every((v) => Number.isInteger(v) && v > 0)) throw new Error(`${op}: bad image shape ${c}x${h}x${w}`);
  if (data.length < c * h * w) throw new Error(`${op}: image data has ${data.length} values, need ${c}x${h}x${w}`);
}

/** Python's `round` (half to even), as torchvision's `int(round(x))` uses. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 up; ties go to the even neighbour instead.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Crops the box (top, left, height, width) — zeros where it leaves the image, as `F.crop` — and
 * resizes it bilinearly to `size` [h, w] (`F.resized_crop` on a tensor: antialias off by default).
 * @example resizedCrop(img, 2, 3, 20, 20, [28, 28])
 */
export function resizedCrop(
  img: Plane,
  top: number,
  left: number,
  height: number,
  width: number,
  size: readonly [number, number],
  opts: { antialias?: boolean } = {},
): Plane {
  checkPlane(img, 'resizedCrop');
  if (![top, left, height, width].every(Number.isInteger) || height <= 0 || width <= 0) {
    throw new Error(`resizedCrop: the box (top ${top}, left ${left}, ${height}x${width}) must be integers with a positive size`);
  }
  const { data, c, h, w } = img;
  const crop = new Float32Array(c * height * width);
  for (let k = 0; k < c; k++) {
    for (let y = 0; y < height; y++) {
      const sy = top + y;
      if (sy < 0 || sy >= h) continue;
      const src = k * h * w + sy * w;
      const dst = k * height * width + y * width;
      for (let x = 0; x < width; x++) {
        const sx = left + x;
        if (sx >= 0 && sx < w) crop[dst + x] = data[src + sx]!;
      }
    }
  }
  const out = resizeBilinear(crop, c, height, width, size[0], size[1], { antialias: opts.antialias ?? false });
  return { data: out, c, h: size[0], w: size[1] };
}

/**
 * torchvision's `_get_inverse_affine_matrix` (2x3, row-major): the map from output to input
 * coordinates of a rotation by `angle` degrees (clockwise in image coordinates), a translation, a
 * scale and shears [sx, sy] in degrees about `center` (relative to the image centre for tensors).
 */
export function inverseAffineMatrix(
  center: readonly [number, number],
  angle: number,
  translate: readonly [number, number],
  scale: number,
  shear: readonly [number, number],
): number[] {
  const rad = Math.PI / 180;
  const rot = angle * rad;
  const sx = shear[0] * rad;
  const sy = shear[1] * rad;
  const [cx, cy] = center;
  const [tx, ty] = translate;
  // RSS without scaling
  const a = Math.cos(rot - sy) / Math.cos(sy);
  const b = (-Math.cos(rot - sy) * Math.tan(sx)) / Math.cos(sy) - Math.sin(rot);
  const c = Math.sin(rot - sy) / Math.cos(sy);
  const d = (-Math.sin(rot - sy) * Math.tan(sx)) / Math.cos(sy) + Math.cos(rot);
  // Inverted rotation matrix with scale and shear (det([[a, b], [c, d]]) == 1)
  const m = [d, -b, 0.0, -c, a, 0.0].map((x) => x / scale);
  // Apply inverse of translation and of center translation: RSS^-1 * C^-1 * T^-1
  m[2]! += m[0]! * (-cx - tx) + m[1]! * (-cy - ty);
  m[5]! += m[3]! * (-cx - tx) + m[4]! * (-cy - ty);
  // Apply center translation: C * RSS^-1 * C^-1 * T^-1
  m[2]! += cx;
  m[5]! += cy;
  return m;
}

/** Options of `affine` and `rotate`. */
export interface AffineOptions {
  /** 'nearest' (default, torchvision's) or 'bilinear'. */
  interpolation?: Interpolation;
  /**
   * Value(s) for pixels that come from outside the image (one, or one per channel); `null`
   * (default) leaves grid_sample's zeros without torchvision's fill mask. The random transforms
   * pass `[0]`, as torchvision's `RandomRotation` / `RandomAffine` (fill=0) do — which, in bilinear
   * mode, also darkens the border pixels that are only partly inside.
   */
  fill?: number | readonly number[] | null;
  /** Centre of the transform in pixel coordinates (origin at the top-left corner); default the image centre. */
  center?: readonly [number, number] | null;
}

/**
 * Samples `img` at the positions the inverse matrix `m` gives for each output pixel (torchvision's
 * `_gen_affine_grid` + `_apply_grid_transform`, output size = input size).
 */
function gridTransform(img: Plane, m: readonly number[], interpolation: Interpolation, fill: readonly number[] | null): Plane {
  const { data, c, h, w } = img;
  // theta is a float32 tensor; the grid divides its transpose by [0.5 w, 0.5 h].
  const theta = m.map(f32);
  const hw = f32(0.5 * w);
  const hh = f32(0.5 * h);
  const r00 = f32(theta[0]! / hw); // x coefficient of grid x
  const r10 = f32(theta[1]! / hw); // y coefficient of grid x
  const r20 = f32(theta[2]! / hw);
  const r01 = f32(theta[3]! / hh);
  const r11 = f32(theta[4]! / hh);
  const r21 = f32(theta[5]! / hh);
  const out = new Float32Array(c * h * w);
  const fills = fill === null ? null : fill.length === 1 ? new Array<number>(c).fill(fill[0]!) : fill;
  if (fills !== null && fills.length !== c) throw new Error(`affine: ${fills.length} fill values for ${c} channels`);
  const plane = h * w;
  for (let oy = 0; oy < h; oy++) {
    const y = -h * 0.5 + 0.5 + oy; // linspace(-oh/2 + 0.5, oh/2 - 0.5, oh): exact half-integers
    for (let ox = 0; ox < w; ox++) {
      const x = -w * 0.5 + 0.5 + ox;
      const gx = f32(x * r00 + y * r10 + r20);
      const gy = f32(x * r01 + y * r11 + r21);
      // The CPU grid sampler's unnormalize for align_corners=False, in float32: (g + 1) * (size / 2) - 0.5.
      const ix = f32(f32(f32(gx + 1) * f32(w / 2)) - 0.5);
      const iy = f32(f32(f32(gy + 1) * f32(h / 2)) - 0.5);
      const o = oy * w + ox;
      if (interpolation === 'nearest') {
        // nearbyint: round half to even.
        const nx = roundHalfEven(ix);
        const ny = roundHalfEven(iy);
        const inside = nx >= 0 && nx < w && ny >= 0 && ny < h;
        for (let k = 0; k < c; k++) {
          out[k * plane + o] = inside ? data[k * plane + ny * w + nx]! : fills !== null ? fills[k]! : 0;
        }
      } else {
        const x0 = Math.floor(ix);
        const y0 = Math.floor(iy);
        const tx = f32(ix - x0);
        const ty = f32(iy - y0);
        const e = f32(1 - tx);
        const sth = f32(1 - ty);
        // Corner weights (zero for corners outside the image: zero padding), nw ne sw se.
        const inX0 = x0 >= 0 && x0 < w;
        const inX1 = x0 + 1 >= 0 && x0 + 1 < w;
        const inY0 = y0 >= 0 && y0 < h;
        const inY1 = y0 + 1 >= 0 && y0 + 1 < h;
        const wNW = inX0 && inY0 ? f32(sth * e) : 0;
        const wNE = inX1 && inY0 ? f32(sth * tx) : 0;
        const wSW = inX0 && inY1 ? f32(ty * e) : 0;
        const wSE = inX1 && inY1 ? f32(ty * tx) : 0;
        const mask = wNW + wNE + wSW + wSE;
        const iNW = y0 * w + x0;
        for (let k = 0; k < c; k++) {
          const b = k * plane + iNW;
          let v = 0;
          if (wNW !== 0) v += wNW * data[b]!;
          if (wNE !== 0) v += wNE * data[b + 1]!;
          if (wSW !== 0) v += wSW * data[b + w]!;
          if (wSE !== 0) v += wSE * data[b + w + 1]!;
          // torchvision: img * mask + (1 - mask) * fill, the mask being the sampled ones channel.
          out[k * plane + o] = fills !== null ? v * mask + (1 - mask) * fills[k]! : v;
        }
      }
    }
  }
  return { data: out, c, h, w };
}

function fillList(fill: AffineOptions['fill']): number[] | null {
  if (fill === undefined || fill === null) return null;
  const list = typeof fill === 'number' ? [fill] : [...fill];
  if (list.length === 0 || !list.every(Number.isFinite)) throw new Error(`affine: fill must be finite numbers, got ${String(fill)}`);
  return list;
}

function centerOffset(img: Plane, center: AffineOptions['center']): [number, number] {
  // Tensors: the centre relative to the image centre.
  if (center === undefined || center === null) return [0, 0];
  return [center[0] - img.w * 0.5, center[1] - img.h * 0.5];
}

/** Parameters of `affine` (torchvision's `F.affine` arguments). */
export interface AffineParams {
  /** Rotation in degrees, clockwise. */
  angle: number;
  /** Translation [tx, ty] in pixels (after rotation). */
  translate?: readonly [number, number];
  /** Overall scale (> 0), default 1. */
  scale?: number;
  /** Shear angles [sx, sy] in degrees (or one value for sx), default 0. */
  shear?: number | readonly [number, number];
}

/**
 * An affine map of the image keeping its centre (or `center`) fixed, as `F.affine` on a tensor.
 * @example affine(img, { angle: 15, translate: [2, -1], scale: 1.1, shear: [5, 0] }, { interpolation: 'bilinear' })
 */
export function affine(img: Plane, p: AffineParams, opts: AffineOptions = {}): Plane {
  checkPlane(img, 'affine');
  const scale = p.scale ?? 1;
  if (!(scale > 0)) throw new Error(`affine: scale must be positive, got ${scale}`);
  const shear: [number, number] = typeof p.shear === 'number' ? [p.shear, 0] : p.shear === undefined ? [0, 0] : [p.shear[0], p.shear[1]];
  const translate = p.translate ?? [0, 0];
  for (const v of [p.angle, ...translate, ...shear]) if (!Number.isFinite(v)) throw new Error('affine: angle, translate and shear must be finite');
  const m = inverseAffineMatrix(centerOffset(img, opts.center), p.angle, translate, scale, shear);
  return gridTransform(img, m, opts.interpolation ?? 'nearest', fillList(opts.fill));
}

/**
 * Rotates the image by `angle` degrees counter-clockwise about its centre (or `center`), keeping
 * its size, as `F.rotate(img, angle)` on a tensor (expand=False).
 * @example rotate(img, 30, { interpolation: 'bilinear', fill: 0 })
 */
export function rotate(img: Plane, angle: number, opts: AffineOptions = {}): Plane {
  checkPlane(img, 'rotate');
  if (!Number.isFinite(angle)) throw new Error(`rotate: angle must be finite, got ${angle}`);
  // torchvision's rotate passes -angle: rotate and affine turn in opposite directions.
  const m = inverseAffineMatrix(centerOffset(img, opts.center), -angle, [0, 0], 1, [0, 0]);
  return gridTransform(img, m, opts.interpolation ?? 'nearest', fillList(opts.fill));
}

/** `(ratio * a + (1 - ratio) * b)` clamped to [0, 1] (torchvision's `_blend` for float images), in place in `a`. */
function blend(a: Float32Array, n: number, ratio: number, b: number): void {
  const rest = (1 - ratio) * b;
  for (let i = 0; i < n; i++) {
    const v = ratio * a[i]! + rest;
    a[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
}

/**
 * Multiplies the pixels by `factor` (>= 0) and clamps to [0, 1], as `F.adjust_brightness` on a
 * float tensor. Returns a new image.
 */
export function adjustBrightness(img: Plane, factor: number): Plane {
  checkPlane(img, 'adjustBrightness');
  if (!(factor >= 0) || !Number.isFinite(factor)) throw new Error(`adjustBrightness: factor must be a finite number >= 0, got ${factor}`);
  const n = img.c * img.h * img.w;
  const out = img.data.slice(0, n);
  blend(out, n, factor, 0);
  return { ...img, data: out };
}

/**
 * Blends the image with its mean grey level by `factor` (0: flat grey, 1: unchanged, > 1: more
 * contrast) and clamps to [0, 1], as `F.adjust_contrast` (1 or 3 channels; RGB uses the
 * 0.2989 / 0.587 / 0.114 luminance for the mean). Returns a new image.
 */
export function adjustContrast(img: Plane, factor: number): Plane {
  checkPlane(img, 'adjustContrast');
  if (!(factor >= 0) || !Number.isFinite(factor)) throw new Error(`adjustContrast: factor must be a finite number >= 0, got ${factor}`);
  const { c, h, w } = img;
  if (c !== 1 && c !== 3) throw new Error(`adjustContrast: expected 1 or 3 channels, got ${c}`);
  const plane = h * w;
  const n = c * plane;
  const src = img.data;
  let sum = 0;
  if (c === 3) {
    for (let i = 0; i < plane; i++) sum += f32(f32(f32(0.2989 * src[i]!) + f32(0.587 * src[plane + i]!)) + f32(0.114 * src[2 * plane + i]!));
  } else {
    for (let i = 0; i < plane; i++) sum += src[i]!;
  }
  const mean = f32(sum / plane);
  const out = src.slice(0, n);
  blend(out, n, factor, mean);
  return { ...img, data: out };
}

/**
 * Sets the box (top, left, height, width) to `value` — one number, one per channel, or a
 * [C, height, width] array — as `F.erase`. Returns a new image.
 */
export function erase(img: Plane, top: number, left: number, height: number, width: number, value: number | ArrayLike<number> = 0): Plane {
  checkPlane(img, 'erase');
  const { c, h, w } = img;
  if (![top, left, height, width].every(Number.isInteger) || top < 0 || left < 0 || height < 0 || width < 0 || top + height > h || left + width > w) {
    throw new Error(`erase: the box (top ${top}, left ${left}, ${height}x${width}) must lie inside the ${h}x${w} image`);
  }
  const out = img.data.slice(0, c * h * w);
  const v = typeof value === 'number' ? null : value;
  if (v !== null && v.length !== c && v.length !== c * height * width) {
    throw new Error(`erase: value has ${v.length} entries; expected 1, ${c} (per channel) or ${c * height * width} (per pixel)`);
  }
  for (let k = 0; k < c; k++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const val = v === null ? (value as number) : v.length === c ? v[k]! : v[(k * height + y) * width + x]!;
        out[k * h * w + (top + y) * w + left + x] = val;
      }
    }
  }
  return { ...img, data: out };
}

/** torchvision's `_get_gaussian_kernel1d`, in float32. */
export function gaussianKernel1d(kernelSize: number, sigma: number): Float32Array {
  const half = (kernelSize - 1) * 0.5;
  const pdf = new Float32Array(kernelSize);
  let sum = 0;
  for (let i = 0; i < kernelSize; i++) {
    // linspace(-half, half, kernelSize): exact (half-)integers
    const x = -half + i;
    pdf[i] = f32(Math.exp(f32(-0.5 * f32(f32(x / f32(sigma)) ** 2))));
    sum = f32(sum + pdf[i]!);
  }
  for (let i = 0; i < kernelSize; i++) pdf[i] = f32(pdf[i]! / sum);
  return pdf;
}

/** Reflect index (no edge repeat): -1 -> 1, n -> n - 2, as `F.pad(mode='reflect')`. */
function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - j;
  return j;
}

/**
 * Blurs with a Gaussian of `sigma` [σx, σy] and odd `kernelSize` [kx, ky], reflect-padding the
 * borders, as `F.gaussian_blur` on a float tensor. Returns a new image.
 * @example gaussianBlur(img, [5, 5], [1.2, 1.2])
 */
export function gaussianBlur(img: Plane, kernelSize: readonly [number, number], sigma: readonly [number, number]): Plane {
  checkPlane(img, 'gaussianBlur');
  const [kx, ky] = kernelSize;
  for (const k of kernelSize) if (!Number.isInteger(k) || k <= 0 || k % 2 === 0) throw new Error(`gaussianBlur: kernel sizes must be odd positive integers, got ${kernelSize.join('x')}`);
  for (const s of sigma) if (!(s > 0) || !Number.isFinite(s)) throw new Error(`gaussianBlur: sigma must be positive, got ${sigma.join(', ')}`);
  const { c, h, w, data } = img;
  const px = kx >> 1;
  const py = ky >> 1;
  if (px >= w || py >= h) throw new Error(`gaussianBlur: a ${kx}x${ky} kernel needs an image larger than ${px}x${py} for reflect padding (image ${w}x${h})`);
  const gx = gaussianKernel1d(kx, sigma[0]);
  const gy = gaussianKernel1d(ky, sigma[1]);
  // torchvision convolves with the 2-D kernel outer(gy, gx) (float32 products); summing in double
  // keeps the result within float32 rounding of it.
  const k2 = new Float32Array(kx * ky);
  for (let j = 0; j < ky; j++) for (let i = 0; i < kx; i++) k2[j * kx + i] = f32(gy[j]! * gx[i]!);
  const out = new Float32Array(c * h * w);
  const xIdx = new Int32Array(w * kx);
  for (let x = 0; x < w; x++) for (let i = 0; i < kx; i++) xIdx[x * kx + i] = reflect(x + i - px, w);
  const yOff = new Int32Array(h * ky);
  for (let y = 0; y < h; y++) for (let j = 0; j < ky; j++) yOff[y * ky + j] = reflect(y + j - py, h) * w;
  for (let k = 0; k < c; k++) {
    const base = k * h * w;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let acc = 0;
        for (let j = 0; j < ky; j++) {
          const row = base + yOff[y * ky + j]!;
          const kr = j * kx;
          const xr = x * kx;
          for (let i = 0; i < kx; i++) acc += k2[kr + i]! * data[row + xIdx[xr + i]!]!;
        }
        out[base + y * w + x] = acc;
      }
    }
  }
  return { data: out, c, h, w };
}
