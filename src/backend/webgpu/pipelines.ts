/**
 * Compute pipelines cached by their WGSL source. Kernel generators bake shapes and geometry into the
 * source as constants (the compiler then turns index arithmetic into shifts and multiplies), so the
 * source text is the cache key: a training loop compiles each layer's kernels once, on its first
 * step. Run-time scalars that change between calls (learning rates, Adam's bias corrections, alpha)
 * go through a uniform buffer instead, so they never cause a recompilation.
 *
 * The cache is bounded (least recently used entries are dropped) so that a long session with many
 * different shapes does not grow without limit.
 */
/// <reference types="@webgpu/types" />

/** Pipelines by WGSL source, least recently used first. */
export class PipelineCache {
  private readonly map = new Map<string, GPUComputePipeline>();
  /** Shader compilations so far (for tests and benchmarks). */
  compiled = 0;

  constructor(
    private readonly device: GPUDevice,
    /** Receives shader compilation errors (with the kernel's first source line, for context). */
    private readonly onError: (message: string) => void,
    private readonly capacity = 1024,
  ) {}

  /** The pipeline of `code` (entry point `main`), compiled on first use. */
  get(code: string): GPUComputePipeline {
    const hit = this.map.get(code);
    if (hit !== undefined) {
      // Re-insert to mark as most recently used.
      this.map.delete(code);
      this.map.set(code, hit);
      return hit;
    }
    const module = this.device.createShaderModule({ code });
    void module.getCompilationInfo().then((info) => {
      const errs = info.messages.filter((m) => m.type === 'error');
      if (errs.length > 0) {
        const where = code.trim().split('\n')[0];
        this.onError(`WGSL compilation failed: ${errs.map((m) => `line ${m.lineNum}: ${m.message}`).join('; ')} (kernel starting "${where}")`);
      }
    });
    const pipeline = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    this.compiled++;
    this.map.set(code, pipeline);
    if (this.map.size > this.capacity) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
    }
    return pipeline;
  }

  /** Number of cached pipelines. */
  get size(): number {
    return this.map.size;
  }
}
