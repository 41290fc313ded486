/** onnxruntime helpers shared by the ONNX export tests. */
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import * as cn from '../../src/index.js';
import type { Tensor } from '../../src/index.js';

/** Runs `bytes` in onnxruntime on each input (float32 data and shape); returns the outputs. */
export async function runOrt(bytes: Uint8Array, runs: [Float32Array, number[]][], names = { input: 'input', output: 'logits' }): Promise<Float32Array[]> {
  // Unoptimized: onnxruntime then executes the exported nodes as they are (and loads faster).
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
  try {
    const out: Float32Array[] = [];
    for (const [x, shape] of runs) {
      const r = await session.run({ [names.input]: new ort.Tensor('float32', x, shape) });
      out.push(r[names.output]!.data as Float32Array);
    }
    return out;
  } finally {
    await session.release();
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'same number of values');
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

/** convnet's eval forward (the model is left in training mode, as `exportOnnx` leaves it). */
export function evalForward(model: cn.nn.Module, x: Tensor): Float32Array {
  model.eval();
  try {
    return cn.tidy(() => cn.noGrad(() => model.call(x).toArray() as Float32Array));
  } finally {
    model.train();
  }
}

