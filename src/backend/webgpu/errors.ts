/** Errors of the webgpu backend that callers may want to tell apart. */

/** Thrown when no WebGPU device can be had here; the message is one line saying why. */
export class WebgpuUnavailableError extends Error {
  constructor(reason: string) {
    super(`WebGPU is unavailable: ${reason}`);
    this.name = 'WebgpuUnavailableError';
  }
}
