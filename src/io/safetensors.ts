/**
 * Reading and writing the safetensors format (https://github.com/huggingface/safetensors), the
 * format PyTorch and Hugging Face tools exchange weights in:
 *
 *   bytes 0..8        N, the header length, unsigned 64-bit little-endian
 *   bytes 8..8+N      UTF-8 JSON object: `{"__metadata__": {string: string}, name: {"dtype": "F32",
 *                     "shape": [..], "data_offsets": [begin, end]}, ...}`, padded with spaces
 *   bytes 8+N..       the data buffer: each tensor's elements, row-major, little-endian, at
 *                     [begin, end) relative to the start of the buffer
 *
 * convnet writes float32 tensors as F32, float64 as F64, bfloat16 as BF16 (the raw bits: no widening)
 * and int32 tensors as I64 (PyTorch's integer buffers, such as BatchNorm's `num_batches_tracked`,
 * are int64, so `load_state_dict(strict=True)` accepts them). It reads F64 and BF16 as they are when
 * the backend has that dtype (float64: reference; bfloat16: native) and as float32 otherwise, F32/F16
 * into float32 tensors, and I64/I32/I16/I8/U64/U32/U16/U8/BOOL into int32 tensors (integers outside
 * the int32 range are an error). Files are read tensor by tensor with
 * positioned reads, so a file larger than a Node buffer can hold still loads.
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import type { DType, HostArray } from '../backend/kernels.js';
import { backendByName, getBackend } from '../backend/index.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt, numel } from '../tensor/shape.js';
import { writeFileAtomic } from './atomic.js';

/** The safetensors dtype names and their element sizes in bytes (the whole list of the format). */
const DTYPE_SIZES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

/** The dtypes `loadSafetensors` converts (all but the 8-bit floats). */
const SUPPORTED: Readonly<Record<string, true>> = Object.fromEntries(
  ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8', 'BOOL'].map((d) => [d, true]),
);

/** Largest header accepted (the reference implementation's limit): guards against absurd lengths. */
export const SAFETENSORS_MAX_HEADER = 100_000_000;

/** What `loadSafetensors` returns. */
export interface SafetensorsContents {
  /** The tensors by name, in the order of the file's header. */
  tensors: Record<string, Tensor>;
  /** The `__metadata__` strings (empty when the file has none). */
  metadata: Record<string, string>;
}

// Typed arrays use the machine's byte order; the format is little-endian, so big-endian machines
// swap bytes at the boundary.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reverses the byte order of every `size`-byte element of `bytes` in place (big-endian hosts). */
function swapBytes(bytes: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let i = 0; i + size <= bytes.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Writes all of `bytes` at the file's current position (writeSync may write less than asked). */
function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
}

/** Reads exactly `bytes.length` bytes at `position`; false when the file ends first. */
function readAt(fd: number, bytes: Uint8Array, position: number): boolean {
  let off = 0;
  while (off < bytes.length) {
    const n = readSync(fd, bytes, off, bytes.length - off, position + off);
    if (n === 0) return false;
    off += n;
  }
  return true;
}

/** The safetensors dtype of each of our dtypes, and its element size. */
const SAVED_AS: Readonly<Record<DType, [string, number]>> = { float32: ['F32', 4], float64: ['F64', 8], bfloat16: ['BF16', 2], int32: ['I64', 8] };

/** The little-endian bytes of a tensor as saved (see SAVED_AS), from its host data. */
function encode(name: string, t: Tensor, host: HostArray): Uint8Array {
  let out: Uint8Array;
  if (t.dtype !== 'int32') {
    out = bytesOf(host);
    if (!LITTLE_ENDIAN) {
      out = out.slice();
      swapBytes(out, SAVED_AS[t.dtype][1]);
    }
  } else if (t.dtype === 'int32') {
    const wide = new BigInt64Array(host.length);
    for (let i = 0; i < host.length; i++) wide[i] = BigInt(host[i]!);
    out = bytesOf(wide);
    if (!LITTLE_ENDIAN) swapBytes(out, 8);
  } else {
    throw new Error(`saveSafetensors: tensor '${name}' has unsupported dtype ${String(t.dtype)}`);
  }
  const expected = numel(t.shape) * SAVED_AS[t.dtype][1];
  if (out.length !== expected) {
    throw new Error(`saveSafetensors: tensor '${name}' produced ${out.length} bytes, expected ${expected} for shape ${fmt(t.shape)}`);
  }
  return out;
}

/**
 * Saves tensors (and optional string metadata) as a safetensors file, atomically (see
 * `writeFileAtomic`): float32 as F32, float64 as F64, bfloat16 as BF16, int32 as I64. Tensors are stored in
 * the order of `Object.keys(tensors)`.
 * @example saveSafetensors('model.safetensors', net.stateDict(), { epoch: '3' });
 */
export function saveSafetensors(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): void {
  writeSafetensors(path, tensors, metadata, (t) => t.toHost());
}

/**
 * `saveSafetensors` for every backend: the tensors are read back asynchronously first (GPU
 * backends), then the file is written as `saveSafetensors` writes it.
 * @example await saveSafetensorsAsync('model.safetensors', net.stateDict());
 */
export async function saveSafetensorsAsync(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): Promise<void> {
  checkTensors(`saveSafetensors: ${path}`, tensors);
  const entries = Object.entries(tensors);
  const host = new Map<Tensor, HostArray>();
  for (const [, t] of entries) if (!host.has(t)) host.set(t, await t.readHost());
  writeSafetensors(path, tensors, metadata, (t) => host.get(t)!);
}

/** Validates the tensors argument (an object of named, live tensors). */
function checkTensors(where: string, tensors: Record<string, Tensor>): void {
  if (tensors === null || typeof tensors !== 'object') throw new Error(`${where}: tensors must be an object of named tensors`);
  for (const [name, t] of Object.entries(tensors)) {
    if (!(t instanceof Tensor)) throw new Error(`${where}: '${name}' is not a Tensor`);
    if (t.isDisposed) throw new Error(`${where}: tensor '${name}' was disposed`);
  }
}

/** Writes the file, reading each tensor's host data with `read`. */
function writeSafetensors(path: string, tensors: Record<string, Tensor>, metadata: Record<string, string> | undefined, read: (t: Tensor) => HostArray): void {
  const where = `saveSafetensors: ${path}`;
  if (tensors === null || typeof tensors !== 'object') throw new Error(`${where}: tensors must be an object of named tensors`);
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
      throw new Error(`${where}: metadata must be an object of strings`);
    }
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`${where}: metadata '${k}' must be a string, got ${typeof v}`);
    }
    header.__metadata__ = { ...metadata };
  }
  // Validate everything before the file is touched.
  const entries = Object.entries(tensors);
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '' || name === '__metadata__') throw new Error(`${where}: invalid tensor name '${name}'`);
    if (!(t instanceof Tensor)) throw new Error(`${where}: '${name}' is not a Tensor`);
    if (t.isDisposed) throw new Error(`${where}: tensor '${name}' was disposed`);
    try {
      void t.shape; // a lazy layer's uninitialized parameter throws here, explaining itself
    } catch (e) {
      throw new Error(`${where}: tensor '${name}': ${(e as Error).message}`);
    }
    const saved = SAVED_AS[t.dtype];
    if (saved === undefined) throw new Error(`${where}: tensor '${name}' has unsupported dtype ${String(t.dtype)}`);
    const nbytes = numel(t.shape) * saved[1];
    header[name] = { dtype: saved[0], shape: [...t.shape], data_offsets: [offset, offset + nbytes] };
    offset += nbytes;
  }
  // The data offsets follow `entries`' order; JSON.stringify lists the keys in the same order
  // (both put integer-like names first), which keeps the data in header order as the format asks.
  // Pad with spaces so that the data starts 8-byte aligned (what the reference writer does).
  const jsonBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Buffer.alloc(Math.ceil(jsonBytes.length / 8) * 8, 0x20);
  jsonBytes.copy(padded);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(padded.length));
  writeFileAtomic(path, (fd) => {
    writeAll(fd, prefix);
    writeAll(fd, padded);
    for (const [name, t] of entries) writeAll(fd, encode(name, t, read(t)));
  });
}

/** Converts a raw little-endian element buffer of dtype `dt` to convnet host data. */
function decode(raw: Uint8Array, dt: string, n: number, fail: (msg: string) => never, has: (d: DType) => boolean): { data: HostArray; dtype: DType } {
  const size = DTYPE_SIZES[dt]!;
  if (!LITTLE_ENDIAN) swapBytes(raw, size);
  // `raw` is a fresh, 8-byte aligned allocation, so typed views over it are valid.
  const buf = raw.buffer;
  const toInt32 = (src: ArrayLike<number | bigint>): Int32Array => {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const v = Number(src[i]!);
      if (v > 2147483647 || v < -2147483648) fail(`element ${i} = ${String(src[i])} does not fit in int32`);
      out[i] = v;
    }
    return out;
  };
  switch (dt) {
    case 'F32':
      return { data: new Float32Array(buf, 0, n), dtype: 'float32' };
    case 'F64':
      if (has('float64')) return { data: new Float64Array(buf, 0, n), dtype: 'float64' };
      return { data: Float32Array.from(new Float64Array(buf, 0, n)), dtype: 'float32' };
    case 'F16': {
      const h = new Uint16Array(buf, 0, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(h[i]!);
      return { data: out, dtype: 'float32' };
    }
    case 'BF16': {
      if (has('bfloat16')) return { data: new Uint16Array(buf, 0, n), dtype: 'bfloat16' };
      // bfloat16 is the upper half of a float32.
      const h = new Uint16Array(buf, 0, n);
      const bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) bits[i] = h[i]! << 16;
      return { data: new Float32Array(bits.buffer), dtype: 'float32' };
    }
    case 'I32':
      return { data: new Int32Array(buf, 0, n), dtype: 'int32' };
    case 'I64':
      return { data: toInt32(new BigInt64Array(buf, 0, n)), dtype: 'int32' };
    case 'U64':
      return { data: toInt32(new BigUint64Array(buf, 0, n)), dtype: 'int32' };
    case 'U32':
      return { data: toInt32(new Uint32Array(buf, 0, n)), dtype: 'int32' };
    case 'I16':
      return { data: Int32Array.from(new Int16Array(buf, 0, n)), dtype: 'int32' };
    case 'U16':
      return { data: Int32Array.from(new Uint16Array(buf, 0, n)), dtype: 'int32' };
    case 'I8':
      return { data: Int32Array.from(new Int8Array(buf, 0, n)), dtype: 'int32' };
    case 'U8':
      return { data: Int32Array.from(raw.subarray(0, n)), dtype: 'int32' };
    case 'BOOL': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        if (raw[i]! > 1) fail(`element ${i} is ${raw[i]}, not a boolean (0 or 1)`);
        out[i] = raw[i]!;
      }
      return { data: out, dtype: 'int32' };
    }
    default:
      return fail(`unsupported dtype ${dt} (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL)`);
  }
}

/** IEEE 754 half precision bits to a number. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Loads a safetensors file into tensors on the current backend (on the reference backend when the
 * current one reads back only asynchronously, a GPU: `loadStateDict` copies them in), F64 and BF16 keep their dtype where
 * the backend has it, other floating dtypes become float32; integer and boolean dtypes int32). The file is validated completely before any tensor is made:
 * header length, JSON, every entry's dtype, shape and offsets, and that the tensors tile the data
 * buffer exactly (no overlap, no gap, nothing after the last tensor). Errors name the file and key.
 * @example const { tensors } = loadSafetensors('model.safetensors'); net.loadStateDict(tensors);
 */
export function loadSafetensors(path: string): SafetensorsContents {
  const where = `loadSafetensors: ${path}`;
  const fd = openSync(path, 'r');
  try {
    const fileSize = fstatSync(fd).size;
    if (fileSize < 8) throw new Error(`${where}: file is too short (${fileSize} bytes) to hold the 8-byte header length`);
    const prefix = Buffer.alloc(8);
    if (!readAt(fd, prefix, 0)) throw new Error(`${where}: could not read the header length`);
    const headerLen = prefix.readBigUInt64LE(0);
    if (headerLen > BigInt(SAFETENSORS_MAX_HEADER)) {
      throw new Error(`${where}: header length ${headerLen} is larger than the limit of ${SAFETENSORS_MAX_HEADER} bytes (not a safetensors file?)`);
    }
    const n = Number(headerLen);
    if (8 + n > fileSize) {
      throw new Error(`${where}: header length ${n} is larger than the file (${fileSize} bytes; truncated or not a safetensors file?)`);
    }
    const headerBytes = Buffer.alloc(n);
    if (!readAt(fd, headerBytes, 8)) throw new Error(`${where}: could not read the ${n}-byte header`);
    let header: unknown;
    try {
      header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
    } catch (e) {
      throw new Error(`${where}: the header is not valid UTF-8 JSON (${(e as Error).message})`);
    }
    if (header === null || typeof header !== 'object' || Array.isArray(header)) {
      throw new Error(`${where}: the header must be a JSON object, got ${Array.isArray(header) ? 'an array' : String(header)}`);
    }
    const dataStart = 8 + n;
    const dataLen = fileSize - dataStart;
    const metadata: Record<string, string> = {};
    const entries: Entry[] = [];
    for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (info === null || typeof info !== 'object' || Array.isArray(info)) throw new Error(`${where}: __metadata__ must be an object of strings`);
        for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
          if (typeof v !== 'string') throw new Error(`${where}: __metadata__ '${k}' must be a string, got ${JSON.stringify(v)}`);
          if (k === '__proto__') throw new Error(`${where}: invalid __metadata__ key '__proto__'`);
          metadata[k] = v;
        }
        continue;
      }
      const bad = (msg: string): never => {
        throw new Error(`${where}: tensor '${name}': ${msg}`);
      };
      // Assigning '__proto__' on the result object would replace its prototype instead.
      if (name === '__proto__') bad('invalid tensor name');
      if (info === null || typeof info !== 'object' || Array.isArray(info)) bad('entry must be an object {dtype, shape, data_offsets}');
      const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
      if (typeof dtype !== 'string') bad(`dtype must be a string, got ${JSON.stringify(dtype)}`);
      const size = DTYPE_SIZES[dtype as string];
      if (size === undefined) bad(`unknown dtype ${JSON.stringify(dtype)}`);
      if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
        bad(`shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
      }
      if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
        bad(`data_offsets must be [begin, end] with non-negative integers, got ${JSON.stringify(offsets)}`);
      }
      const [begin, end] = offsets as [number, number];
      if (begin > end) bad(`data_offsets [${begin}, ${end}] end before they begin`);
      if (end > dataLen) bad(`data_offsets [${begin}, ${end}] are outside the ${dataLen}-byte data buffer (truncated file?)`);
      const expected = numel(shape as number[]) * size!;
      if (end - begin !== expected) {
        bad(`data_offsets [${begin}, ${end}] span ${end - begin} bytes, but ${dtype as string} ${fmt(shape as number[])} needs ${expected}`);
      }
      entries.push({ name, dtype: dtype as string, shape: shape as number[], begin, end });
    }
    // The tensors must tile the data buffer: sorted by offset, each starts where the previous ended.
    const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
    let pos = 0;
    let prev: Entry | null = null;
    for (const e of sorted) {
      if (e.begin < pos) throw new Error(`${where}: tensor '${e.name}' overlaps tensor '${prev!.name}' (data_offsets [${e.begin}, ${e.end}])`);
      if (e.begin > pos) throw new Error(`${where}: tensor '${e.name}': gap of ${e.begin - pos} unused bytes before its data_offsets [${e.begin}, ${e.end}]`);
      pos = e.end;
      prev = e;
    }
    if (pos !== dataLen) throw new Error(`${where}: ${dataLen - pos} bytes after the last tensor's data are not described by the header`);
    for (const e of entries) {
      if (!(e.dtype in SUPPORTED)) {
        throw new Error(`${where}: tensor '${e.name}': unsupported dtype ${e.dtype} (supported: ${Object.keys(SUPPORTED).join(', ')})`);
      }
    }

    // A backend that reads back only asynchronously (a GPU) gets its weights through
    // loadStateDict's copy; the file's tensors stay on the host (the reference backend).
    const current = getBackend();
    const k = current.toHost === undefined ? backendByName('reference') : current;
    const tensors: Record<string, Tensor> = {};
    for (const e of entries) {
      const count = numel(e.shape);
      const raw = new Uint8Array(e.end - e.begin);
      if (!readAt(fd, raw, dataStart + e.begin)) throw new Error(`${where}: tensor '${e.name}': the file ended while reading its data`);
      const { data, dtype } = decode(
        raw,
        e.dtype,
        count,
        (msg) => {
          throw new Error(`${where}: tensor '${e.name}': ${msg}`);
        },
        (d) => k.dtypes.fromHost.includes(d),
      );
      tensors[e.name] = new Tensor(k.fromHost(data, e.shape, dtype), e.shape, dtype, k);
    }
    return { tensors, metadata };
  } finally {
    closeSync(fd);
  }
}
