/**
 * Adapter and device creation. In a browser the `GPU` object is `navigator.gpu`; in Node it comes
 * from Dawn's binding, the optional npm package `webgpu` (`node-gpu.ts`, replaced by a stub in the
 * browser bundle). Creation is asynchronous (adapter and device requests are promises), so the
 * backend is created by `initWebgpu()` (see index.ts); when anything is missing, the reason is one
 * sentence (`WebgpuUnavailableError.message`) that says what to do.
 */
/// <reference types="@webgpu/types" />
import { nodeGpu } from './node-gpu.js';
import { WebgpuUnavailableError } from './errors.js';

/** What the backend knows about its device. */
export interface DeviceInfo {
  /** e.g. "google swiftshader: SwiftShader Device (Subzero)" or a GPU's vendor/architecture. */
  adapter: string;
  /** True for a software rasterizer (SwiftShader, lavapipe, WARP): correct, not fast. */
  software: boolean;
  /** Whether the adapter offers `shader-f16` (not used yet: the contract has no float16 dtype). */
  shaderF16: boolean;
}

/** A created device and its description. */
export interface CreatedDevice {
  device: GPUDevice;
  info: DeviceInfo;
  /**
   * The `GPU` and adapter objects the device came from. Whoever keeps the device must keep these
   * too: in Node, when Dawn's GPU instance is garbage collected its device stops processing events
   * and the process crashes in the next `mapAsync`.
   */
  keepAlive: readonly unknown[];
}

/** The `GPU` entry point: `navigator.gpu` in browsers (and Deno), Dawn's binding in Node. */
async function findGpu(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu !== undefined) return nav.gpu;
  const isNode = typeof process !== 'undefined' && process.versions?.node !== undefined;
  if (!isNode) throw new WebgpuUnavailableError('this browser has no navigator.gpu (WebGPU is off or not supported)');
  return nodeGpu();
}

function describe(a: GPUAdapter): DeviceInfo {
  const i = a.info;
  const parts = [i.vendor, i.architecture, i.device, i.description].filter((s) => typeof s === 'string' && s !== '');
  const adapter = [...new Set(parts)].join(' ') || 'unknown adapter';
  const software = /swiftshader|llvmpipe|lavapipe|warp|software/i.test(adapter) || (a as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  return { adapter, software, shaderF16: a.features.has('shader-f16') };
}

/**
 * Requests an adapter (high-performance) and a device with the adapter's largest buffer limits (the
 * defaults, 128 MiB per binding, are too small for batch-128 activations of the larger models).
 */
export async function createDevice(): Promise<CreatedDevice> {
  const gpu = await findGpu();
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    throw new WebgpuUnavailableError(`requestAdapter failed: ${(e as Error).message}`);
  }
  if (adapter === null) {
    const hint =
      typeof process !== 'undefined' && process.versions?.node !== undefined
        ? ' (no Vulkan/Metal/D3D12 GPU driver found; without a GPU, Chromium\'s software Vulkan works: VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json)'
        : '';
    throw new WebgpuUnavailableError(`no WebGPU adapter${hint}`);
  }
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxBufferSize: l.maxBufferSize,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    },
  });
  return { device, info: describe(adapter), keepAlive: [gpu, adapter] };
}
