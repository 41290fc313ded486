/**
 * Browser stand-in for node-gpu.ts (mapped by package.json's "browser" field): browsers have
 * `navigator.gpu`, and when they do not, there is nothing else to load.
 */
/// <reference types="@webgpu/types" />
import { WebgpuUnavailableError } from './errors.js';

/** Always throws: outside Node there is no Dawn binding to fall back to. */
export async function nodeGpu(): Promise<GPU> {
  throw new WebgpuUnavailableError('this browser has no navigator.gpu (WebGPU is off or not supported)');
}
