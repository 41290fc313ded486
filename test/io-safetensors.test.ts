/**
 * safetensors: round trips (float32, int32 as I64, scalars, empty tensors, special float values),
 * a file assembled byte by byte from the format's specification, every kind of corruption, atomic
 * writes, and the exchange with PyTorch: zoo-model weights written by convnet load into the
 * PyTorch definitions (bench/torch_train.py) with `load_state_dict(strict=True)` and give the same
 * logits, and PyTorch's state_dict loads into convnet (test/py/safetensors_torch.py reads and writes
 * the files with plain Python, independently of this implementation).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as cn from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { loadSafetensors, saveSafetensors } from '../src/io/index.js';
import { createModel } from '../src/models/index.js';

const dir = mkdtempSync(join(tmpdir(), 'convnet-safetensors-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** Bytes of a float32 / int32 host array, for bitwise comparison. */
function bits(t: Tensor): Buffer {
  const a = t.toArray();
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** A safetensors file from a header (object or raw JSON text) and a data buffer. */
function build(name: string, header: object | string, data: Uint8Array, headerLen?: bigint): string {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(headerLen ?? BigInt(json.length));
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([prefix, json, data]));
  return path;
}

test('round trip: float32 and int32 tensors, scalars, empty shapes, special values, metadata', () => {
  const special = new Float32Array([0, -0, 1.5, -2.25, NaN, Infinity, -Infinity, 1e-45, 3.4028234663852886e38, 0.1]);
  const tensors: Record<string, Tensor> = {
    'net.0.weight': cn.tensor(special, { shape: [2, 5] }),
    scalar: cn.tensor(new Float32Array([7.5]), { shape: [] }),
    ints: cn.tensor(new Int32Array([-2147483648, -1, 0, 1, 2147483647, 42]), { shape: [3, 2] }),
    'net.1.num_batches_tracked': cn.tensor(new Int32Array([9]), { shape: [] }),
    empty: cn.zeros([0]),
    empty3: cn.zeros([2, 0, 3]),
    emptyInt: cn.zeros([0, 4], { dtype: 'int32' }),
    '7': cn.tensor([1, 2, 3]), // an integer-like name (JS objects list those first)
  };
  const path = join(dir, 'roundtrip.safetensors');
  saveSafetensors(path, tensors, { epoch: '3', note: 'unicode ✓' });
  const { tensors: back, metadata } = loadSafetensors(path);
  assert.deepEqual(metadata, { epoch: '3', note: 'unicode ✓' });
  assert.deepEqual(Object.keys(back), Object.keys(tensors));
  for (const [k, t] of Object.entries(tensors)) {
    const b = back[k]!;
    assert.equal(b.dtype, t.dtype, k);
    assert.deepEqual(b.shape, t.shape, k);
    assert.ok(bits(b).equals(bits(t)), `${k}: bits differ`);
  }

  // The layout on disk, read independently: header length, padding, dtypes and offsets.
  const raw = readFileSync(path);
  const n = Number(raw.readBigUInt64LE(0));
  assert.equal(n % 8, 0, 'header padded to a multiple of 8');
  const headerText = raw.subarray(8, 8 + n).toString('utf8');
  assert.match(headerText, /^\{.*\} *$/);
  const header = JSON.parse(headerText) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  assert.deepEqual(header.ints, { dtype: 'I64', shape: [3, 2], data_offsets: header.ints!.data_offsets });
  assert.equal(header['net.0.weight']!.dtype, 'F32');
  assert.deepEqual(header.scalar!.shape, []);
  const [b0, b1] = header.ints!.data_offsets;
  assert.equal(b1 - b0, 48);
  assert.equal(raw.readBigInt64LE(8 + n + b0), -2147483648n);
  assert.equal(raw.readBigInt64LE(8 + n + b0 + 40), 42n);
  // Data in header order, tiling the buffer.
  let pos = 0;
  for (const [k, v] of Object.entries(header)) {
    if (k === '__metadata__') continue;
    assert.equal(v.data_offsets[0], pos, k);
    pos = v.data_offsets[1];
  }
  assert.equal(8 + n + pos, raw.length);
});

test('a file assembled byte by byte from the specification loads to the expected values', () => {
  // Layout (header not padded, which the format allows):
  //   [0, 8)        header length N, u64 little-endian
  //   [8, 8+N)      JSON header below
  //   data buffer:  a  F32  [2]  = 1.5, -2          bytes  0..8   00 00 c0 3f | 00 00 00 c0
  //                 b  I64  []   = -3               bytes  8..16  fd ff ff ff ff ff ff ff
  //                 c  U8   [3]  = 0, 7, 255        bytes 16..19  00 07 ff
  //                 d  F16  [2]  = 1, -0.5          bytes 19..23  00 3c | 00 b8
  //                 e  F64  [1]  = 0.25             bytes 23..31  00 00 00 00 00 00 d0 3f
  //                 f  I32  [2]  = 1, -1            bytes 31..39  01 00 00 00 | ff ff ff ff
  //                 g  BF16 [1]  = 1                bytes 39..41  80 3f
  //                 h  BOOL [2]  = true, false      bytes 41..43  01 00
  const header =
    '{"__metadata__":{"format":"pt"},' +
    '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
    '"b":{"dtype":"I64","shape":[],"data_offsets":[8,16]},' +
    '"c":{"dtype":"U8","shape":[3],"data_offsets":[16,19]},' +
    '"d":{"dtype":"F16","shape":[2],"data_offsets":[19,23]},' +
    '"e":{"dtype":"F64","shape":[1],"data_offsets":[23,31]},' +
    '"f":{"dtype":"I32","shape":[2],"data_offsets":[31,39]},' +
    '"g":{"dtype":"BF16","shape":[1],"data_offsets":[39,41]},' +
    '"h":{"dtype":"BOOL","shape":[2],"data_offsets":[41,43]}}';
  // prettier-ignore
  const data = Uint8Array.from([
    0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0,
    0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x00, 0x07, 0xff,
    0x00, 0x3c, 0x00, 0xb8,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xd0, 0x3f,
    0x01, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
    0x80, 0x3f,
    0x01, 0x00,
  ]);
  const path = build('handmade.safetensors', header, data);
  const { tensors: t, metadata } = loadSafetensors(path);
  assert.deepEqual(metadata, { format: 'pt' });
  const expect: Record<string, [string, number[], number[]]> = {
    a: ['float32', [2], [1.5, -2]],
    b: ['int32', [], [-3]],
    c: ['int32', [3], [0, 7, 255]],
    d: ['float32', [2], [1, -0.5]],
    e: [cn.getBackend().dtypes.fromHost.includes('float64') ? 'float64' : 'float32', [1], [0.25]],
    f: ['int32', [2], [1, -1]],
    // BF16 loads as it is where the backend has bfloat16 (native), widened to float32 elsewhere
    g: [cn.getBackend().dtypes.fromHost.includes('bfloat16') ? 'bfloat16' : 'float32', [1], [1]],
    h: ['int32', [2], [1, 0]],
  };
  assert.deepEqual(Object.keys(t), Object.keys(expect));
  for (const [k, [dtype, shape, values]] of Object.entries(expect)) {
    assert.equal(t[k]!.dtype, dtype, k);
    assert.deepEqual(t[k]!.shape, shape, k);
    assert.deepEqual([...t[k]!.toArray()], values, k);
  }
});

test('corrupt files give errors naming the file (and the tensor)', () => {
  const f32 = (n: number): Uint8Array => new Uint8Array(new Float32Array(n).buffer);
  const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const cases: [string, () => string, RegExp][] = [
    ['too short', () => writeShort(), /too short \(4 bytes\)/],
    ['header larger than the file', () => build('hlen.st', ok, f32(2), 1000n), /header length 1000 is larger than the file/],
    ['header larger than the cap', () => build('hcap.st', ok, f32(2), 1n << 40n), /larger than the limit/],
    ['header not JSON', () => build('json.st', '{"a": ', f32(2)), /not valid UTF-8 JSON/],
    ['header not an object', () => build('array.st', '[1, 2]', f32(2)), /must be a JSON object/],
    ['truncated data', () => build('trunc.st', ok, f32(1)), /tensor 'a': data_offsets \[0, 8\] are outside the 4-byte data buffer/],
    ['offsets out of range', () => build('range.st', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 800] } }, f32(2)), /tensor 'a'.*outside/],
    ['offsets reversed', () => build('rev.st', { a: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, f32(2)), /tensor 'a'.*end before they begin/],
    ['wrong size', () => build('size.st', { a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32(2)), /tensor 'a'.*span 8 bytes, but F32 \[3\] needs 12/],
    [
      'overlap',
      () => build('overlap.st', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, f32(3)),
      /tensor 'b' overlaps tensor 'a'/,
    ],
    [
      'gap',
      () => build('gap.st', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [12, 16] } }, f32(4)),
      /tensor 'b': gap of 4 unused bytes/,
    ],
    ['trailing bytes', () => build('trail.st', ok, f32(3)), /4 bytes after the last tensor/],
    ['unknown dtype', () => build('dtype.st', { a: { dtype: 'Q4', shape: [2], data_offsets: [0, 8] } }, f32(2)), /tensor 'a': unknown dtype "Q4"/],
    ['unsupported dtype', () => build('f8.st', { a: { dtype: 'F8_E4M3', shape: [8], data_offsets: [0, 8] } }, f32(2)), /tensor 'a': unsupported dtype F8_E4M3/],
    ['bad shape', () => build('shape.st', { a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, f32(2)), /tensor 'a': shape must be/],
    ['entry not an object', () => build('entry.st', { a: 3 }, new Uint8Array(0)), /tensor 'a': entry must be an object/],
    ['__proto__ as a name', () => build('proto.st', '{"__proto__":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', f32(2)), /tensor '__proto__': invalid tensor name/],
    ['metadata not strings', () => build('meta.st', { __metadata__: { n: 1 }, ...ok }, f32(2)), /__metadata__ 'n' must be a string/],
    [
      'int64 out of int32 range',
      () => build('i64.st', { a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(new BigInt64Array([1n << 40n]).buffer)),
      /tensor 'a': element 0 = 1099511627776 does not fit in int32/,
    ],
  ];
  function writeShort(): string {
    const p = join(dir, 'short.st');
    writeFileSync(p, Buffer.from([1, 2, 3, 4]));
    return p;
  }
  for (const [what, make, re] of cases) {
    const path = make();
    assert.throws(
      () => loadSafetensors(path),
      (e: Error) => {
        assert.ok(e.message.includes(path), `${what}: the message names the file: ${e.message}`);
        assert.match(e.message, re, what);
        return true;
      },
      what,
    );
  }
  assert.throws(() => loadSafetensors(join(dir, 'missing.safetensors')), /missing\.safetensors/);
});

test('bad input to saveSafetensors is an error naming the file and key, and writes nothing', () => {
  const path = join(dir, 'bad-input.safetensors');
  const disposed = cn.zeros([2]);
  disposed.dispose();
  assert.throws(() => saveSafetensors(path, { w: disposed }), /bad-input\.safetensors: tensor 'w' was disposed/);
  assert.throws(() => saveSafetensors(path, { w: [1, 2] as unknown as Tensor }), /bad-input\.safetensors: 'w' is not a Tensor/);
  assert.throws(() => saveSafetensors(path, { __metadata__: cn.zeros([1]) }), /invalid tensor name '__metadata__'/);
  assert.throws(() => saveSafetensors(path, {}, { n: 1 as unknown as string }), /metadata 'n' must be a string/);
  const lazy = createModel('lenet');
  assert.throws(() => saveSafetensors(path, lazy.stateDict()), /tensor 'net\.0\.weight': .*uninitialized parameter/);
  assert.equal(existsSync(path), false);
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp-')), []);
});

test('writes are atomic: no temporary file remains and a failed write keeps the previous file', () => {
  const sub = mkdtempSync(join(dir, 'atomic-'));
  const path = join(sub, 'model.safetensors');
  saveSafetensors(path, { w: cn.tensor([1, 2, 3]) });
  assert.deepEqual(readdirSync(sub), ['model.safetensors']);
  const good = readFileSync(path);

  // A tensor whose data cannot be read fails in the middle of writing (after the header and the
  // first tensor went to the temporary file).
  const broken = cn.tensor([4, 5, 6]);
  Object.defineProperty(broken, 'toHost', {
    value: () => {
      throw new Error('device lost');
    },
  });
  assert.throws(() => saveSafetensors(path, { first: cn.ones([1000]), broken }), /device lost/);
  assert.ok(readFileSync(path).equals(good), 'the previous file is unchanged');
  assert.deepEqual(readdirSync(sub), ['model.safetensors'], 'the temporary file was removed');
  assert.deepEqual([...loadSafetensors(path).tensors.w!.toArray()], [1, 2, 3]);

  // Overwriting with a good write replaces the file.
  saveSafetensors(path, { w: cn.tensor([9]) });
  assert.deepEqual([...loadSafetensors(path).tensors.w!.toArray()], [9]);
  assert.deepEqual(readdirSync(sub), ['model.safetensors']);
});

// ---- PyTorch side by side --------------------------------------------------------------------

const PY = '/usr/bin/python3'; // Debian's python with python3-torch (the pyenv python3 has no torch)
const script = fileURLToPath(new URL('../../test/py/safetensors_torch.py', import.meta.url));
const torchMissing = ((): string | null => {
  const r = spawnSync(PY, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60000 });
  return r.status === 0 ? null : `PyTorch is not available (${PY} -c "import torch" failed)`;
})();

function runPy(args: string[]): Record<string, unknown> {
  const r = spawnSync(PY, [script, ...args], { encoding: 'utf8', timeout: 240000 });
  assert.equal(r.status, 0, `python failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

function maxAbsDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  const x = a.toArray();
  const y = b.toArray();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

const MODELS: [string, number][] = [
  ['bnlenet', 28],
  ['densenet', 32],
];

for (const [name, size] of MODELS) {
  test(`${name}: weights saved by convnet load into PyTorch (strict) and give the same logits`, (t) => {
    if (torchMissing !== null) return t.skip(torchMissing);
    cn.manualSeed(0);
    const model = createModel(name);
    model.eval();
    cn.tidy(() => cn.noGrad(() => model.call(cn.zeros([1, 1, size, size])))); // materializes the lazy layers
    // Two training-mode passes give the BatchNorm buffers non-trivial values (and a batch count).
    model.train();
    for (let i = 0; i < 2; i++) cn.tidy(() => cn.noGrad(() => model.call(cn.randn([4, 1, size, size]))));
    model.eval();
    const x = cn.randn([2, 1, size, size]);
    const logits = cn.noGrad(() => model.call(x));
    const weights = join(dir, `${name}-ts.safetensors`);
    const io = join(dir, `${name}-ts-io.safetensors`);
    saveSafetensors(weights, model.stateDict());
    saveSafetensors(io, { input: x, logits });
    const r = runPy(['check', name, String(size), weights, io]);
    assert.equal(r.numKeys, Object.keys(model.stateDict()).length);
    const diff = r.maxAbsDiff as number;
    assert.deepEqual(r.shape, [2, 10]);
    t.diagnostic(`${name}: max |logit difference| convnet -> PyTorch = ${diff.toExponential(2)} (max |logit| ${(r.maxAbsLogit as number).toFixed(3)})`);
    assert.ok(diff <= 1e-4, `max logit difference ${diff}`);
  });

  test(`${name}: a PyTorch state_dict loads into convnet (strict) and gives the same logits`, (t) => {
    if (torchMissing !== null) return t.skip(torchMissing);
    const weights = join(dir, `${name}-torch.safetensors`);
    const io = join(dir, `${name}-torch-io.safetensors`);
    const r = runPy(['export', name, String(size), weights, io]);
    const model = createModel(name);
    model.eval();
    cn.tidy(() => cn.noGrad(() => model.call(cn.zeros([1, 1, size, size]))));
    const { tensors, metadata } = loadSafetensors(weights);
    assert.equal(metadata.producer, 'test/py/safetensors_torch.py');
    assert.equal(Object.keys(tensors).length, r.numKeys);
    model.loadStateDict(tensors, { strict: true });
    const counters = Object.entries(model.stateDict()).filter(([k]) => k.endsWith('num_batches_tracked'));
    assert.ok(counters.length > 0);
    for (const [k, v] of counters) assert.equal(v.item(), 2, k);
    const { tensors: data } = loadSafetensors(io);
    const logits = cn.noGrad(() => model.call(data.input!));
    const diff = maxAbsDiff(logits, data.logits!);
    const scale = Math.max(...[...logits.toArray()].map(Math.abs));
    t.diagnostic(`${name}: max |logit difference| PyTorch -> convnet = ${diff.toExponential(2)} (max |logit| ${scale.toFixed(3)})`);
    assert.ok(diff <= 1e-4, `max logit difference ${diff}`);
  });
}

test('float64 and bfloat16 tensors are written as F64 / BF16 (no widening) and read back as they are', () => {
  const path = join(dir, 'dtypes.safetensors');
  // float64 (reference backend): values that float32 cannot hold exactly survive the round trip.
  const f64 = cn.withBackend('reference', () => cn.tensor([0.1, 1 / 3, 1e-300], { dtype: 'float64' }));
  cn.withBackend('reference', () => saveSafetensors(path, { x: f64 }));
  const header = JSON.parse(readFileSync(path).subarray(8, 8 + Number(readFileSync(path).readBigUInt64LE(0))).toString('utf8'));
  assert.equal(header.x.dtype, 'F64');
  assert.deepEqual(header.x.data_offsets, [0, 24]);
  const back = cn.withBackend('reference', () => loadSafetensors(path).tensors.x!);
  assert.equal(back.dtype, 'float64');
  assert.deepEqual([...back.toArray()], [0.1, 1 / 3, 1e-300]);
  // On a backend without float64 (native) the same file loads as float32.
  if (cn.nativeAvailable()) {
    const narrow = cn.withBackend('native', () => loadSafetensors(path).tensors.x!);
    assert.equal(narrow.dtype, 'float32');
    assert.deepEqual([...narrow.toArray()], [...Float32Array.from([0.1, 1 / 3, 0])]);
  }
  // bfloat16 bit patterns (1.5 = 0x3fc0, -2 = 0xc000, 1/3 rounds to 0x3eab) are written as they are.
  const bits = Uint16Array.from([0x3fc0, 0xc000, 0x3eab]);
  const raw = Buffer.from(JSON.stringify({ b: { dtype: 'BF16', shape: [3], data_offsets: [0, 6] } }));
  const padded = Buffer.alloc(Math.ceil(raw.length / 8) * 8, 0x20);
  raw.copy(padded);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(padded.length));
  writeFileSync(path, Buffer.concat([len, padded, Buffer.from(bits.buffer)]));
  const onRef = cn.withBackend('reference', () => loadSafetensors(path).tensors.b!);
  assert.equal(onRef.dtype, 'float32', 'the reference backend has no bfloat16: widened exactly');
  assert.deepEqual([...onRef.toArray()], [1.5, -2, 0.333984375]);
  if (cn.nativeAvailable() && cn.backendByName('native').dtypes.fromHost.includes('bfloat16')) {
    const b = cn.withBackend('native', () => loadSafetensors(path).tensors.b!);
    assert.equal(b.dtype, 'bfloat16');
    assert.deepEqual([...b.toHost()], [...bits]);
    const again = join(dir, 'dtypes2.safetensors');
    cn.withBackend('native', () => saveSafetensors(again, { b }));
    assert.ok(readFileSync(again).subarray(-6).equals(Buffer.from(bits.buffer)), 'BF16 bytes written as they are');
  }
});
