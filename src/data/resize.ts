/**
 * Bilinear resizing of planar [C, H, W] float images, with PyTorch's semantics:
 * `F.interpolate(x, size, mode='bilinear', align_corners=False)` (antialias off, the default), and
 * `antialias=True` (a triangle filter widened by the scale factor when downsampling, as PIL and
 * torchvision's antialiased resize do).
 *
 * A note on d2l: `d2l.FashionMNIST(resize=...)` applies torchvision's `transforms.Resize` to *PIL*
 * images (uint8), i.e. PIL's bilinear filter, then `ToTensor`. When upsampling (28 -> 96 or 224)
 * PIL's filter has the same taps as `align_corners=False` bilinear, but PIL works in fixed point
 * on uint8 and rounds each output to a multiple of 1/255, so d2l's tensors differ from ours by up
 * to ~2e-3. When downsampling, PIL (and `antialias=True`) averages over the footprint of each
 * output pixel, while plain bilinear samples only 2x2 input pixels and aliases. We match
 * `F.interpolate(..., align_corners=False)` in float exactly (within 1e-5) and offer the
 * antialiased variant for downsampling large micrographs.
 */

/** Taps of a 1-D resampling: output i reads `count[i]` inputs from `start[i]` with `weights`. */
export interface ResampleTaps {
  /** First input index of each output. */
  start: Int32Array;
  /** Number of taps of each output. */
  count: Int32Array;
  /** `maxTaps` weights per output (unused ones are 0). */
  weights: Float64Array;
  /** Stride of `weights`. */
  maxTaps: number;
}

/** Options of `resizeBilinear`. */
export interface ResizeOptions {
  /** Antialiased (area-aware) filter when downsampling, as `antialias=True` / PIL (default false). */
  antialias?: boolean;
  /** Where to write the result (length >= C * outH * outW); a new array otherwise. */
  out?: Float32Array;
}

const tapCache = new Map<string, ResampleTaps>();

/**
 * The 1-D taps that map `inSize` samples to `outSize`, with PyTorch's align_corners=False rule:
 * src = (dst + 0.5) * in / out - 0.5, clamped at 0; i1 = min(i0 + 1, in - 1).
 * With `antialias` and in > out, PyTorch's / PIL's widened triangle filter instead.
 */
export function bilinearTaps(inSize: number, outSize: number, antialias = false): ResampleTaps {
  const key = `${inSize}:${outSize}:${antialias ? 1 : 0}`;
  const hit = tapCache.get(key);
  if (hit !== undefined) return hit;
  // PyTorch computes the scale and the weights in the input's precision (float32): emulate it
  // with fround, so results agree to float rounding even when in/out is not a power of two.
  const f = Math.fround;
  const scale = f(inSize / outSize);
  let taps: ResampleTaps;
  if (!antialias || scale <= 1) {
    // Plain bilinear (area_pixel_compute_source_index + compute_source_index_and_lambda).
    // For upsampling the antialiased filter has exactly these taps.
    const start = new Int32Array(outSize);
    const count = new Int32Array(outSize);
    const weights = new Float64Array(outSize * 2);
    for (let i = 0; i < outSize; i++) {
      // (Measured against torch 1.13: the scale is float32, the source index is not rounded.)
      let src = scale * (i + 0.5) - 0.5;
      if (src < 0) src = 0;
      const i0 = Math.trunc(src);
      const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
      const l1 = f(Math.min(Math.max(f(src - i0), 0), 1));
      start[i] = i0;
      if (i1 === i0) {
        count[i] = 1;
        weights[2 * i] = 1;
      } else {
        count[i] = 2;
        weights[2 * i] = f(1 - l1);
        weights[2 * i + 1] = l1;
      }
    }
    taps = { start, count, weights, maxTaps: 2 };
  } else {
    // PyTorch's _compute_weights_aa (= PIL's precompute_coeffs) with the triangle filter.
    const support = scale; // interp_size / 2 * scale, interp_size = 2
    const maxTaps = Math.ceil(support) * 2 + 1;
    const start = new Int32Array(outSize);
    const count = new Int32Array(outSize);
    const weights = new Float64Array(outSize * maxTaps);
    const invScale = f(1 / scale);
    for (let i = 0; i < outSize; i++) {
      const center = f(scale * (i + 0.5));
      const xmin = Math.max(Math.trunc(f(center - support) + 0.5), 0);
      const xsize = Math.min(Math.trunc(f(center + support) + 0.5), inSize) - xmin;
      let total = 0;
      for (let j = 0; j < xsize; j++) {
        const x = Math.abs(f((f(j + xmin - center) + 0.5) * invScale));
        const w = x < 1 ? f(1 - x) : 0;
        weights[i * maxTaps + j] = w;
        total = f(total + w);
      }
      if (total !== 0) for (let j = 0; j < xsize; j++) weights[i * maxTaps + j] = f(weights[i * maxTaps + j]! / total);
      start[i] = xmin;
      count[i] = xsize;
    }
    taps = { start, count, weights, maxTaps };
  }
  if (tapCache.size > 256) tapCache.clear();
  tapCache.set(key, taps);
  return taps;
}

let scratch = new Float64Array(0);

/**
 * Resizes a planar image [C, inH, inW] to [C, outH, outW] (separable: rows, then columns).
 * @example resizeBilinear(img28, 1, 28, 28, 224, 224) // as F.interpolate(..., align_corners=False)
 */
export function resizeBilinear(
  src: ArrayLike<number>,
  channels: number,
  inH: number,
  inW: number,
  outH: number,
  outW: number,
  opts: ResizeOptions = {},
): Float32Array {
  for (const [k, v] of Object.entries({ channels, inH, inW, outH, outW })) {
    if (!Number.isInteger(v) || v <= 0) throw new Error(`resizeBilinear: ${k} must be a positive integer, got ${v}`);
  }
  if (src.length < channels * inH * inW) {
    throw new Error(`resizeBilinear: input has ${src.length} values, need ${channels}x${inH}x${inW}`);
  }
  const out = opts.out ?? new Float32Array(channels * outH * outW);
  if (out.length < channels * outH * outW) throw new Error('resizeBilinear: out is too small');
  if (inH === outH && inW === outW) {
    for (let i = 0; i < channels * inH * inW; i++) out[i] = src[i]!;
    return out;
  }
  const aa = opts.antialias ?? false;
  const tw = bilinearTaps(inW, outW, aa);
  const th = bilinearTaps(inH, outH, aa);
  // Horizontal pass into a float64 scratch [inH, outW] per channel, then vertical pass.
  if (scratch.length < inH * outW) scratch = new Float64Array(inH * outW);
  const tmp = scratch;
  const { start: ws, count: wc, weights: wwt, maxTaps: wm } = tw;
  const { start: hs, count: hc, weights: hwt, maxTaps: hm } = th;
  for (let c = 0; c < channels; c++) {
    const inBase = c * inH * inW;
    for (let y = 0; y < inH; y++) {
      const row = inBase + y * inW;
      const trow = y * outW;
      for (let x = 0; x < outW; x++) {
        const s0 = row + ws[x]!;
        const n = wc[x]!;
        const wo = x * wm;
        let acc = 0;
        for (let k = 0; k < n; k++) acc += wwt[wo + k]! * src[s0 + k]!;
        tmp[trow + x] = acc;
      }
    }
    const outBase = c * outH * outW;
    for (let y = 0; y < outH; y++) {
      const n = hc[y]!;
      const ho = y * hm;
      const r0 = hs[y]! * outW;
      const orow = outBase + y * outW;
      if (n === 2) {
        const w0 = hwt[ho]!;
        const w1 = hwt[ho + 1]!;
        const r1 = r0 + outW;
        for (let x = 0; x < outW; x++) out[orow + x] = w0 * tmp[r0 + x]! + w1 * tmp[r1 + x]!;
      } else {
        for (let x = 0; x < outW; x++) {
          let acc = 0;
          for (let k = 0; k < n; k++) acc += hwt[ho + k]! * tmp[r0 + k * outW + x]!;
          out[orow + x] = acc;
        }
      }
    }
  }
  return out;
}
