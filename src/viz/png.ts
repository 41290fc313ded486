/**
 * SVG → PNG with sharp (its npm binaries bundle librsvg, so no system libraries are needed). The
 * figures are drawn as SVG (curves, confusion matrix) and rasterised here for files that any image
 * viewer opens.
 */
import sharp from 'sharp';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeBytesAtomic } from '../io/atomic.js';

/**
 * Renders `svg` to a PNG at its own `width`×`height` (1 SVG unit = 1 pixel) and writes it to `path`
 * atomically (a temporary file renamed over the target).
 * @example await svgToPng(curvesSvg(records), 'runs/lenet/curves.png');
 */
export async function svgToPng(svg: string, path: string): Promise<void> {
  let png: Buffer;
  try {
    // density 72 is librsvg's 1 unit = 1 px; stated so a changed sharp default cannot rescale.
    png = await sharp(Buffer.from(svg, 'utf8'), { density: 72 }).png().toBuffer();
  } catch (e) {
    throw new Error(`svgToPng: could not render the SVG for ${path}: ${(e as Error).message}`, { cause: e });
  }
  mkdirSync(dirname(path), { recursive: true }); // figures may go to a run folder not made yet
  writeBytesAtomic(path, png);
}
