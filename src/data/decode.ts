/**
 * Decoding image files (PNG, TIFF, JPEG) with sharp into planar float [C, H, W] arrays at full
 * depth: 8-bit values are divided by 255, 16-bit by 65535 (or kept as raw counts), 32-bit float
 * TIFFs are kept as they are. 16-bit images go through libvips' `grey16` / `rgb16` colourspaces
 * with `raw({ depth: 'ushort' })`, so values above 255 survive exactly. Alpha is dropped.
 * Every error names the file.
 */
import type { Plane } from './transforms.js';

/** What `probeImage` learns from a file's header. */
export interface ImageInfo {
  /** Colour channels, alpha excluded (1 for grey, 3 for RGB). */
  channels: number;
  /** Whether the file has an alpha channel (dropped when decoding). */
  hasAlpha: boolean;
  /** Pixel depth as libvips names it: 'uchar' (8-bit), 'ushort' (16-bit), 'float', ... */
  depth: string;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Container format ('png', 'tiff', 'jpeg', ...). */
  format: string;
}

/** How `decodeImage` converts pixels. */
export interface DecodeOptions {
  /** Channels to produce: 1 (grey; colour images are converted to luminance) or 3 (RGB). */
  channels: 1 | 3;
  /** Keep integer counts (0..255 / 0..65535) instead of scaling to [0, 1] (default false). */
  rawValues?: boolean;
}

type SharpModule = typeof import('sharp').default;
let sharpPromise: Promise<SharpModule> | null = null;

/** Loads sharp once (dynamically, so that the rest of the data layer works without it). */
export function loadSharp(): Promise<SharpModule> {
  if (sharpPromise === null) {
    sharpPromise = import('sharp').then(
      (m) => ((m as unknown as { default?: SharpModule }).default ?? m) as SharpModule,
      (e: unknown) => {
        sharpPromise = null;
        throw new Error(`image decoding needs the 'sharp' package (npm install sharp@0.35.5): ${(e as Error).message}`);
      },
    );
  }
  return sharpPromise;
}

function fileError(path: string, what: string, e: unknown): Error {
  const msg = e instanceof Error ? e.message : String(e);
  return new Error(`${path}: ${what} (${msg})`);
}

/**
 * Reads a file's header (format, size, channels, depth) without decoding the pixels.
 * @example await probeImage('cells/a/img001.tif') // { channels: 1, depth: 'ushort', ... }
 */
export async function probeImage(path: string): Promise<ImageInfo> {
  const sharp = await loadSharp();
  let m: Awaited<ReturnType<ReturnType<SharpModule>['metadata']>>;
  try {
    m = await sharp(path).metadata();
  } catch (e) {
    throw fileError(path, 'cannot read image', e);
  }
  if (m.width === undefined || m.height === undefined || m.channels === undefined) {
    throw new Error(`${path}: cannot read image (no size or channel count in its header)`);
  }
  const hasAlpha = m.hasAlpha ?? false;
  return {
    channels: m.channels - (hasAlpha ? 1 : 0),
    hasAlpha,
    depth: m.depth ?? 'uchar',
    width: m.width,
    height: m.height,
    format: m.format ?? 'unknown',
  };
}

/** Scale of an integer depth: its maximum value. */
function depthMax(depth: string): number | null {
  if (depth === 'uchar') return 255;
  if (depth === 'ushort') return 65535;
  return null;
}

/**
 * Decodes a file into a planar float image with `opts.channels` channels. `info` (from
 * `probeImage`) saves a second header read.
 * @example const { data, h, w } = await decodeImage('a.png', { channels: 1 });
 */
export async function decodeImage(path: string, opts: DecodeOptions, info?: ImageInfo): Promise<Plane> {
  const sharp = await loadSharp();
  const meta = info ?? (await probeImage(path));
  const want = opts.channels;
  const max = depthMax(meta.depth);
  let pipeline = sharp(path).removeAlpha();
  let depth: 'uchar' | 'ushort' | 'float';
  if (max === 255) {
    depth = 'uchar';
    pipeline = pipeline.toColourspace(want === 1 ? 'b-w' : 'srgb');
  } else if (max === 65535) {
    depth = 'ushort';
    pipeline = pipeline.toColourspace(want === 1 ? 'grey16' : 'rgb16');
  } else if (meta.depth === 'float') {
    if (meta.channels !== want) {
      throw new Error(`${path}: float image with ${meta.channels} channel(s) cannot be converted to ${want}; convert it first`);
    }
    depth = 'float';
  } else {
    throw new Error(`${path}: unsupported pixel depth '${meta.depth}' (8-bit, 16-bit unsigned and 32-bit float images are supported)`);
  }
  let data: Buffer;
  let width: number;
  let height: number;
  let channels: number;
  try {
    const r = await pipeline.raw({ depth }).toBuffer({ resolveWithObject: true });
    data = r.data;
    ({ width, height, channels } = r.info);
  } catch (e) {
    throw fileError(path, 'cannot decode image (corrupt or truncated?)', e);
  }
  if (channels !== want) {
    throw new Error(`${path}: decoded to ${channels} channels, expected ${want}`);
  }
  const n = width * height;
  const bytes = depth === 'uchar' ? 1 : depth === 'ushort' ? 2 : 4;
  if (data.length !== n * channels * bytes) {
    throw new Error(`${path}: decoder returned ${data.length} bytes for ${width}x${height}x${channels} ${depth}`);
  }
  // Interleaved (HWC) integers -> planar (CHW) floats. Copy to an aligned buffer first.
  const aligned = new Uint8Array(data.length);
  aligned.set(data);
  const src =
    depth === 'uchar' ? aligned : depth === 'ushort' ? new Uint16Array(aligned.buffer) : new Float32Array(aligned.buffer);
  // Division (not multiplication by 1/max) so that v / max is correctly rounded.
  const div = max === null || opts.rawValues ? 1 : max;
  const out = new Float32Array(n * channels);
  if (channels === 1) {
    for (let i = 0; i < n; i++) out[i] = src[i]! / div;
  } else {
    for (let c = 0; c < channels; c++) {
      const base = c * n;
      for (let i = 0; i < n; i++) out[base + i] = src[i * channels + c]! / div;
    }
  }
  return { data: out, c: channels, h: height, w: width };
}
