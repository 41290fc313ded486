/**
 * Command batching: kernels do not submit work one by one. Each dispatch is recorded into ONE open
 * compute pass of ONE command encoder, and the batch is submitted (`flush`) when
 * - the host needs data (`read`: the copy to a mappable buffer is appended, then submitted),
 * - the JavaScript task that encoded it ends (a microtask), so a synchronous training step, which
 *   encodes forward, backward and the optimizer update in one go, becomes a single submit,
 * - or the batch is full (dispatch or uniform space limits), which bounds the memory a long
 *   synchronous loop can tie up in encoded commands.
 *
 * Uniforms (the run-time scalars of each dispatch) are packed into one host array per batch and
 * uploaded with one `writeBuffer` just before the submit. The same uniform buffer is reused by the
 * next batch: queue operations run in order, so that later `writeBuffer` cannot overtake the
 * commands of the submit before it.
 */
/// <reference types="@webgpu/types" />
import { Usage } from './buffer-pool.js';

/** A buffer bound to one dispatch (a whole buffer, or its first `size` bytes). */
export interface Binding {
  buffer: GPUBuffer;
  size: number;
}

/** Dispatches per batch before it is submitted anyway. */
const MAX_DISPATCHES = 2048;
/** Bytes of uniform space per batch. */
const UNIFORM_BYTES = 256 * 1024;

/** The open command batch of a device. */
export class CommandBatch {
  /** Id of the batch being encoded (increases by one per submit). */
  id = 1;
  /** Submits so far (for tests: one per training step). */
  submits = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatches = 0;
  private readonly uniformHost = new Uint8Array(UNIFORM_BYTES);
  private uniformUsed = 0;
  private readonly uniformBuffer: GPUBuffer;
  private readonly align: number;
  private scheduled = false;
  private readonly layouts = new WeakMap<GPUComputePipeline, GPUBindGroupLayout>();

  constructor(private readonly device: GPUDevice) {
    this.uniformBuffer = device.createBuffer({ size: UNIFORM_BYTES, usage: Usage.UNIFORM | Usage.COPY_DST });
    this.align = device.limits.minUniformBufferOffsetAlignment;
  }

  private open(): GPUCommandEncoder {
    if (this.encoder === null) {
      this.encoder = this.device.createCommandEncoder();
      if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(() => {
          this.scheduled = false;
          this.flush();
        });
      }
    }
    return this.encoder;
  }

  private computePass(): GPUComputePassEncoder {
    if (this.pass === null) this.pass = this.open().beginComputePass();
    return this.pass;
  }

  private endPass(): void {
    if (this.pass !== null) {
      this.pass.end();
      this.pass = null;
    }
  }

  private layoutOf(p: GPUComputePipeline): GPUBindGroupLayout {
    let l = this.layouts.get(p);
    if (l === undefined) {
      l = p.getBindGroupLayout(0);
      this.layouts.set(p, l);
    }
    return l;
  }

  /**
   * Records one dispatch of `pipeline` with `bindings` at bindings 0..k-1 and, when given, the
   * uniform bytes at binding k.
   */
  dispatch(pipeline: GPUComputePipeline, bindings: readonly Binding[], uniform: ArrayBuffer | null, groups: readonly [number, number, number]): void {
    if (groups[0] === 0 || groups[1] === 0 || groups[2] === 0) return;
    const needs = uniform === null ? 0 : Math.ceil(uniform.byteLength / this.align) * this.align;
    if (this.dispatches >= MAX_DISPATCHES || this.uniformUsed + needs > UNIFORM_BYTES) this.flush();
    const entries: GPUBindGroupEntry[] = bindings.map((b, k) => ({ binding: k, resource: { buffer: b.buffer, offset: 0, size: b.size } }));
    if (uniform !== null) {
      const offset = this.uniformUsed;
      this.uniformHost.set(new Uint8Array(uniform), offset);
      this.uniformUsed += needs;
      entries.push({ binding: bindings.length, resource: { buffer: this.uniformBuffer, offset, size: uniform.byteLength } });
    }
    const group = this.device.createBindGroup({ layout: this.layoutOf(pipeline), entries });
    const pass = this.computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(groups[0], groups[1], groups[2]);
    this.dispatches++;
  }

  /** Records a buffer-to-buffer copy (ends the compute pass; the next dispatch opens a new one). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    if (bytes === 0) return;
    const enc = this.open();
    this.endPass();
    enc.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** True when commands are waiting to be submitted. */
  get pending(): boolean {
    return this.encoder !== null;
  }

  /** Submits the batch (uniforms first); a no-op when nothing is encoded. */
  flush(): void {
    if (this.encoder === null) return;
    this.endPass();
    if (this.uniformUsed > 0) this.device.queue.writeBuffer(this.uniformBuffer, 0, this.uniformHost, 0, this.uniformUsed);
    const cmd = this.encoder.finish();
    this.encoder = null;
    this.dispatches = 0;
    this.uniformUsed = 0;
    this.device.queue.submit([cmd]);
    this.submits++;
    this.id++;
  }

  /** Destroys the uniform buffer (the device is going away). */
  destroy(): void {
    this.uniformBuffer.destroy();
  }
}
