/**
 * ONNX export against onnxruntime-node (an independent implementation of every op): each zoo model,
 * materialized at a small input with random BatchNorm statistics, is exported at batch 1 and run by
 * onnxruntime at batch 1 and 3 (symbolic batch); the logits must match convnet's eval forward. The
 * bytes are also decoded by a small protobuf reader written here from onnx.proto's field numbers
 * (IR/opset, unique node names, topological order, initializers = state-dict tensors with the same
 * values). Plus custom modules (op-level tracing), errors, `saveOnnx`, and the op-tracing hook.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cn from '../src/index.js';
import { createModel, modelNames } from '../src/models/index.js';
import { exportOnnx, saveOnnx } from '../src/onnx/index.js';
import { tracing, withOpTracer, type TracedOp } from '../src/ops/trace.js';
import type { Tensor } from '../src/tensor/tensor.js';
import type { Storage } from '../src/backend/kernels.js';
import * as ort from 'onnxruntime-node';
import { evalForward, maxAbsDiff, runOrt } from './helpers/onnx.js';

const native = cn.nativeAvailable();
if (native) cn.setBackend('native');

// ---- a protobuf reader (wire format only) -----------------------------------------------------

interface Field {
  no: number;
  /** Varint value, float (fixed32), or the bytes of a length-delimited field. */
  v: bigint | number | Uint8Array;
}

function readFields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = (): bigint => {
    let r = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[i++]!;
      r |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return r;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const tag = Number(varint());
    const [no, wire] = [tag >>> 3, tag & 7];
    if (wire === 0) out.push({ no, v: BigInt.asIntN(64, varint()) });
    else if (wire === 2) {
      const n = Number(varint());
      out.push({ no, v: buf.subarray(i, i + n) });
      i += n;
    } else if (wire === 5) {
      out.push({ no, v: new DataView(buf.buffer, buf.byteOffset + i, 4).getFloat32(0, true) });
      i += 4;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}

const dec = new TextDecoder();
const all = (fs: Field[], no: number) => fs.filter((f) => f.no === no).map((f) => f.v);
const bytesOf = (fs: Field[], no: number) => all(fs, no) as Uint8Array[];
const str = (fs: Field[], no: number) => bytesOf(fs, no).map((b) => dec.decode(b));
const num = (fs: Field[], no: number) => all(fs, no).map((v) => Number(v));

interface Decoded {
  irVersion: number;
  opsets: { domain: string; version: number }[];
  nodes: { name: string; opType: string; inputs: string[]; outputs: string[] }[];
  initializers: Map<string, { dims: number[]; dataType: number; raw: Uint8Array }>;
  inputs: { name: string; dims: (number | string)[] }[];
  outputs: { name: string; dims: (number | string)[] }[];
}

function decodeModel(bytes: Uint8Array): Decoded {
  const m = readFields(bytes);
  const g = readFields(bytesOf(m, 7)[0]!);
  const valueInfo = (b: Uint8Array) => {
    const f = readFields(b);
    const tensorType = readFields(bytesOf(readFields(bytesOf(f, 2)[0]!), 1)[0]!);
    assert.deepEqual(num(tensorType, 1), [1], 'elem_type FLOAT');
    const dims = bytesOf(readFields(bytesOf(tensorType, 2)[0]!), 1).map((d) => {
      const df = readFields(d);
      return df[0]!.no === 1 ? Number(df[0]!.v) : dec.decode(df[0]!.v as Uint8Array);
    });
    return { name: str(f, 1)[0]!, dims };
  };
  const initializers = new Map<string, { dims: number[]; dataType: number; raw: Uint8Array }>();
  for (const b of bytesOf(g, 5)) {
    const f = readFields(b);
    const name = str(f, 8)[0]!;
    assert.ok(!initializers.has(name), `initializer ${name} appears twice`);
    initializers.set(name, { dims: num(f, 1), dataType: num(f, 2)[0]!, raw: bytesOf(f, 9)[0]! });
  }
  return {
    irVersion: num(m, 1)[0]!,
    opsets: bytesOf(m, 8).map((b) => {
      const f = readFields(b);
      return { domain: str(f, 1)[0] ?? '', version: num(f, 2)[0]! };
    }),
    nodes: bytesOf(g, 1).map((b) => {
      const f = readFields(b);
      return { name: str(f, 3)[0]!, opType: str(f, 4)[0]!, inputs: str(f, 1), outputs: str(f, 2) };
    }),
    initializers,
    inputs: bytesOf(g, 11).map(valueInfo),
    outputs: bytesOf(g, 12).map(valueInfo),
  };
}

/** Structure every export must have; returns the decoded model. */
function checkStructure(bytes: Uint8Array, inputName = 'input', outputName = 'logits'): Decoded {
  const d = decodeModel(bytes);
  assert.equal(d.irVersion, 8);
  assert.deepEqual(d.opsets, [{ domain: '', version: 17 }]);
  const names = d.nodes.map((n) => n.name);
  assert.equal(new Set(names).size, names.length, 'node names are unique');
  // Every node input is defined before use (topological order), every value is produced once.
  const defined = new Set<string>([inputName, ...d.initializers.keys()]);
  for (const n of d.nodes) {
    for (const i of n.inputs) assert.ok(defined.has(i), `node ${n.name} (${n.opType}) reads undefined value '${i}'`);
    for (const o of n.outputs) {
      assert.ok(!defined.has(o), `value '${o}' is produced twice`);
      defined.add(o);
    }
  }
  assert.ok(defined.has(outputName), 'the graph output is produced');
  assert.deepEqual(d.inputs.map((i) => i.name), [inputName]);
  assert.deepEqual(d.outputs.map((o) => o.name), [outputName]);
  return d;
}

// ---- models -----------------------------------------------------------------------------------

/** Smallest convenient input size of each zoo model (lenets at their 28x28). */
function sizeOf(name: string): number {
  if (name.includes('lenet')) return 28;
  if (name === 'alexnet' || name === 'nin') return 67; // 11x11/4 convolution and three 3x3/2 pools
  return 32; // VGG's five 2x2 pools; DenseNet / ResNet stems and transitions
}

/** Random values in [lo, hi) of `shape` on the current backend. */
function uniform(shape: readonly number[], lo: number, hi: number): Tensor {
  return cn.rand([...shape]).mul(hi - lo).add(lo);
}

/**
 * Materializes the model and replaces every BatchNorm's statistics and affine parameters by
 * random values near the defaults, so eval-mode normalization is not the identity.
 */
function prepare(name: string, shape: number[]) {
  const model = createModel(name);
  cn.tidy(() => cn.noGrad(() => void model.eval().call(cn.zeros(shape))));
  cn.tidy(() => {
    for (const m of model.modules()) {
      if (m instanceof cn.nn.BatchNorm1d || m instanceof cn.nn.BatchNorm2d) {
        m.runningMean!.assign(uniform(m.runningMean!.shape, -0.2, 0.2));
        m.runningVar!.assign(uniform(m.runningVar!.shape, 0.5, 1.5));
        m.weight!.assign(uniform(m.weight!.shape, 0.8, 1.2));
        m.bias!.assign(uniform(m.bias!.shape, -0.1, 0.1));
      } else if (m instanceof cn.nn.BatchNorm) {
        m.movingMean.assign(uniform(m.movingMean.shape, -0.2, 0.2));
        m.movingVar.assign(uniform(m.movingVar.shape, 0.5, 1.5));
        m.gamma.assign(uniform(m.gamma.shape, 0.8, 1.2));
        m.beta.assign(uniform(m.beta.shape, -0.1, 0.1));
      }
    }
  });
  model.train();
  return model;
}

const diffs: Record<string, { diff: number; scale: number }> = {};

for (const name of modelNames) {
  test(`${name}: onnxruntime reproduces the eval logits at batch 1 and 3 (exported at batch 1)`, async () => {
    const size = sizeOf(name);
    const model = prepare(name, [1, 1, size, size]);
    try {
      const bytes = exportOnnx(model, { inputShape: [1, 1, size, size] });
      assert.equal(model.training, true, 'the training flag is restored');
      const d = checkStructure(bytes);
      assert.deepEqual(d.inputs[0]!.dims, ['batch', 1, size, size]);
      assert.deepEqual(d.outputs[0]!.dims, ['batch', 10]);
      // Initializers: the state-dict tensors the forward uses (all but the batch counters), same values.
      const sd = model.stateDict();
      const expected = Object.keys(sd).filter((k) => !k.endsWith('num_batches_tracked'));
      // (The scratch BatchNorm's moving statistics are buffers: state-dict names like net.1.moving_mean.)
      assert.deepEqual([...d.initializers.keys()].sort(), [...expected].sort());
      for (const k of expected) {
        const init = d.initializers.get(k)!;
        assert.deepEqual(init.dims, [...sd[k]!.shape], `${k} dims`);
        assert.equal(init.dataType, 1);
        // Values: every small tensor (BatchNorm statistics, biases), the first weight and the last one
        // (the key before the final bias).
        if (sd[k]!.size > 100_000 && k !== expected[0] && k !== expected[expected.length - 2]) continue;
        const host = sd[k]!.toArray() as Float32Array;
        assert.ok(Buffer.from(init.raw).equals(Buffer.from(host.buffer, host.byteOffset, host.byteLength)), `${k} values`);
      }
      // One convnet forward at batch 3; onnxruntime at batch 3 and at batch 1 (its first row).
      const x = cn.randn([3, 1, size, size]);
      const xs = x.toArray() as Float32Array;
      const want = evalForward(model, x);
      x.dispose();
      const [got3, got1] = await runOrt(bytes, [
        [xs, [3, 1, size, size]],
        [xs.slice(0, size * size), [1, 1, size, size]],
      ]);
      assert.equal(got3!.length, 30);
      const worst = Math.max(maxAbsDiff(got3!, want), maxAbsDiff(got1!, want.subarray(0, 10)));
      diffs[name] = { diff: worst, scale: Math.max(...Array.from(want, Math.abs)) };
      assert.ok(worst <= 1e-4, `max |onnxruntime - convnet| = ${worst}`);
    } finally {
      model.dispose();
    }
  });
}

test('per-model max abs logit differences (printed for the record)', () => {
  for (const [name, d] of Object.entries(diffs)) {
    console.log(`# onnx ${name}: max abs logit diff ${d.diff.toExponential(2)} (max |logit| ${d.scale.toPrecision(3)})`);
  }
  assert.ok(Object.keys(diffs).length > 0);
});

// ---- custom modules: op-level tracing -----------------------------------------------------------

class Attention extends cn.nn.Module {
  proj = new cn.nn.Linear(8, 8);
  override forward(x: Tensor): Tensor {
    // [N, C, H, W] -> tokens [N, HW, C]; scaled dot-product self-attention; back to a vector.
    const [n, c] = [x.shape[0]!, x.shape[1]!];
    const t = cn.permute(cn.reshape(x, [n, c, -1]), [0, 2, 1]);
    const q = this.proj.call(t); // Linear on 3-D: reshapes around a 2-D linear
    const k = cn.linear(t, this.proj.weight, null); // the linear op itself on 3-D
    const scores = cn.softmax(cn.matmul(q, cn.transpose(k, 1, 2)).mul(1 / Math.sqrt(c)), -1);
    const y = cn.matmul(scores, t).sub(cn.mean(t, 1, { keepdim: true }));
    const norm = cn.rsqrt(y.square().mean(-1, { keepdim: true }).add(1e-5));
    const z = cn.tanh(y.mul(norm)).sum(1).maximum(0.1).div(2);
    return z.add(z.gt(0.3)); // a comparison (float 1/0)
  }
}

test('a custom module with permute, matmul, softmax, reductions and scalar arithmetic exports exactly', async () => {
  cn.manualSeed(3);
  const model = new cn.nn.Sequential(new cn.nn.Conv2d(3, 8, 3, { padding: 1, groups: 1, dilation: 1 }), new cn.nn.ReLU(), new Attention());
  const bytes = exportOnnx(model, { inputShape: [1, 3, 4, 4], inputName: 'image', outputName: 'features', producerName: 'test' });
  checkStructure(bytes, 'image', 'features');
  const x = cn.randn([2, 3, 4, 4]);
  const [got] = await runOrt(bytes, [[x.toArray() as Float32Array, [2, 3, 4, 4]]], { input: 'image', output: 'features' });
  assert.ok(maxAbsDiff(got!, evalForward(model, x)) <= 1e-5);
});

test('dynamicBatch: false fixes the batch dim', async () => {
  const model = prepare('lenet', [1, 1, 28, 28]);
  const bytes = exportOnnx(model, { inputShape: [2, 1, 28, 28], dynamicBatch: false });
  const d = checkStructure(bytes);
  assert.deepEqual(d.inputs[0]!.dims, [2, 1, 28, 28]);
  assert.deepEqual(d.outputs[0]!.dims, [2, 10]);
  const x = cn.randn([2, 1, 28, 28]);
  const [got] = await runOrt(bytes, [[x.toArray() as Float32Array, [2, 1, 28, 28]]]);
  assert.ok(maxAbsDiff(got!, evalForward(model, x)) <= 1e-5);
  await assert.rejects(runOrt(bytes, [[new Float32Array(3 * 784), [3, 1, 28, 28]]]));
});

// ---- errors -------------------------------------------------------------------------------------

/** An op declared without an ONNX lowering (the exporter must name the module that uses it). */
const noLowering = cn.defineOp({
  name: 'testNoLowering',
  dtypes: 'any',
  setup: (x: Tensor) => ({ inputs: [x], params: { shape: x.shape }, shape: x.shape }),
  forward: (k, [x], p) => k.reshape(x as Storage, p.shape, p.shape),
});

class Crop extends cn.nn.Module {
  override forward(x: Tensor): Tensor {
    return noLowering(x); // declared without an ONNX mapping
  }
}

class HostMade extends cn.nn.Module {
  override forward(x: Tensor): Tensor {
    return cn.tensor(x.toArray(), { shape: x.shape }); // made from host data: not traced
  }
}

class NoisyLayer extends cn.nn.Module {
  override forward(x: Tensor): Tensor {
    return cn.dropout(x, { p: 0.5, training: true });
  }
}

test('a module without ONNX mapping is an error naming its path and class', () => {
  const net = new cn.nn.Sequential(new cn.nn.Conv2d(1, 2, 3), new Crop(), new cn.nn.ReLU());
  assert.throws(() => exportOnnx(net, { inputShape: [1, 1, 6, 6] }), /^Error: exportOnnx: 1 \(Crop\) has no ONNX mapping \(op 'testNoLowering' cannot be exported\)/);
  const host = new cn.nn.Sequential(new cn.nn.Conv2d(1, 2, 3), new HostMade(), new cn.nn.ReLU());
  assert.throws(() => exportOnnx(host, { inputShape: [1, 1, 6, 6] }), /^Error: exportOnnx: 1 \(HostMade\) has no ONNX mapping \(its forward computes a \[1, 2, 4, 4\] tensor with an op the exporter does not trace\)/);
  assert.equal(net.training, true);
  const model = createModel('lenet');
  (model as unknown as { net: cn.nn.Sequential }).net.append(new Crop());
  assert.throws(() => exportOnnx(model, { inputShape: [1, 1, 28, 28] }), /exportOnnx: net\.12 \(Crop\) has no ONNX mapping/);
  const noisy = new cn.nn.Sequential(new cn.nn.Linear(4, 4), new NoisyLayer());
  assert.throws(() => exportOnnx(noisy, { inputShape: [1, 4] }), /exportOnnx: 1 \(NoisyLayer\): dropout in training mode/);
  const unbatched = new cn.nn.Sequential(new cn.nn.Conv2d(1, 2, 3));
  assert.throws(() => exportOnnx(unbatched, { inputShape: [1, 6, 6] }), /exportOnnx: 0 \(Conv2d\): conv2d on a 3-D input/);
  const uneven = new cn.nn.Sequential(new cn.nn.AdaptiveAvgPool2d(3));
  assert.throws(() => exportOnnx(uneven, { inputShape: [1, 1, 7, 7] }), /0 \(AdaptiveAvgPool2d\): adaptiveAvgPool2d from 7x7 to 3x3 has uneven bins/);
});

test('bad options are clear errors', () => {
  const m = new cn.nn.Sequential(new cn.nn.ReLU());
  assert.throws(() => exportOnnx(m, { inputShape: [1, 0, 3] }), /exportOnnx: inputShape must be a non-empty array of positive integers, got \[1,0,3\]/);
  assert.throws(() => exportOnnx(m, { inputShape: [2], inputName: 'x', outputName: 'x' }), /inputName and outputName are both 'x'/);
  assert.throws(() => exportOnnx(m, { inputShape: [2], outputName: '' }), /outputName must be a non-empty string/);
  assert.throws(() => exportOnnx({} as cn.nn.Module, { inputShape: [2] }), /exportOnnx: model must be an nn.Module/);
});

test('a model that returns its input exports as Identity', async () => {
  const bytes = exportOnnx(new cn.nn.Sequential(new cn.nn.Dropout(0.5)), { inputShape: [1, 3] });
  const d = checkStructure(bytes);
  assert.deepEqual(d.nodes.map((n) => n.opType), ['Identity']);
  const [got] = await runOrt(bytes, [[Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]]]);
  assert.deepEqual([...got!], [1, 2, 3, 4, 5, 6]);
});

// ---- saveOnnx -----------------------------------------------------------------------------------

test('saveOnnx writes the model atomically (no temporary file left) and reports bad paths', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'convnet-onnx-'));
  try {
    const model = prepare('bnlenet', [1, 1, 28, 28]);
    const path = join(dir, 'bnlenet.onnx');
    saveOnnx(model, path, { inputShape: [1, 1, 28, 28] });
    saveOnnx(model, path, { inputShape: [1, 1, 28, 28] }); // overwrites
    assert.deepEqual(readdirSync(dir), ['bnlenet.onnx']);
    const session = await ort.InferenceSession.create(path);
    const x = cn.randn([2, 1, 28, 28]);
    const r = await session.run({ input: new ort.Tensor('float32', x.toArray() as Float32Array, [2, 1, 28, 28]) });
    await session.release();
    assert.ok(maxAbsDiff(r.logits!.data as Float32Array, evalForward(model, x)) <= 1e-4);
    assert.throws(() => saveOnnx(model, join(dir, 'missing', 'm.onnx'), { inputShape: [1, 1, 28, 28] }), /saveOnnx: could not write .*missing.*m\.onnx/);
    assert.deepEqual(readdirSync(dir), ['bnlenet.onnx']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- the op-tracing hook ------------------------------------------------------------------------

test('the op tracer sees each op with its operands and attributes, and is off outside withOpTracer', () => {
  assert.equal(tracing.tracer, null);
  const x = cn.randn([1, 2, 5, 5]);
  const w = cn.randn([3, 2, 3, 3]);
  const seen: TracedOp[] = [];
  const y = withOpTracer(
    (c) => seen.push(c),
    () => cn.maxPool2d(cn.conv2d(x, w, null, { stride: 2, padding: 1 }).add(1), { kernelSize: 2 }),
  );
  assert.equal(tracing.tracer, null);
  assert.deepEqual(seen.map((c) => c.op), ['conv2d', 'add', 'maxPool2d']);
  assert.deepEqual(seen[0]!.inputs, [x, w, null]);
  assert.deepEqual((seen[0]!.attrs as { p: unknown }).p, { stride: [2, 2], padding: [1, 1], dilation: [1, 1], groups: 1 });
  assert.deepEqual(seen[1]!.inputs, [seen[0]!.output, 1]);
  assert.equal(seen[2]!.output, y);
  // Identity results (dropout off) are not reported; the previous tracer comes back after a throw.
  const outer: string[] = [];
  withOpTracer(
    (c) => outer.push(c.op),
    () => {
      cn.dropout(x, { training: false });
      assert.throws(() => withOpTracer(() => {}, () => cn.reshape(x, [7])));
      cn.relu(x);
    },
  );
  assert.deepEqual(outer, ['relu']);
  assert.equal(tracing.tracer, null);
});
