/**
 * Reader of IDX files (the MNIST / Fashion-MNIST format), raw or gzipped, that validates
 * everything a corrupt or hostile file could get wrong: magic bytes, type code, dimension count,
 * sizes (overflow-safe, capped), exact length. Every error names the file.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/** IDX element types by type code. */
const TYPES: Record<number, { name: string; bytes: number }> = {
  0x08: { name: 'uint8', bytes: 1 },
  0x09: { name: 'int8', bytes: 1 },
  0x0b: { name: 'int16', bytes: 2 },
  0x0c: { name: 'int32', bytes: 4 },
  0x0d: { name: 'float32', bytes: 4 },
  0x0e: { name: 'float64', bytes: 8 },
};

/** Default cap on the decoded size: 1 GiB (Fashion-MNIST's train images are 47 MB). */
export const IDX_MAX_BYTES = 1 << 30;

/** A decoded IDX array. */
export interface IdxArray {
  /** Element type name (`uint8` for (Fashion-)MNIST). */
  type: string;
  /** Dimensions, e.g. [60000, 28, 28]. */
  shape: number[];
  /** The elements, row-major, converted to numbers (uint8 stays a Uint8Array). */
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

/** Options of `readIdx`. */
export interface ReadIdxOptions {
  /** Largest accepted decoded size in bytes (default `IDX_MAX_BYTES`). */
  maxBytes?: number;
}

/**
 * Parses IDX bytes (already decompressed). `name` is used in error messages.
 * @example parseIdx(readFileSync('train-labels-idx1-ubyte'), 'train-labels')
 */
export function parseIdx(buf: Uint8Array, name: string, opts: ReadIdxOptions = {}): IdxArray {
  const maxBytes = opts.maxBytes ?? IDX_MAX_BYTES;
  if (buf.length < 4) throw new Error(`${name}: not an IDX file (only ${buf.length} bytes)`);
  if (buf[0] !== 0 || buf[1] !== 0) {
    throw new Error(`${name}: not an IDX file (bad magic bytes 0x${hex(buf[0]!)} 0x${hex(buf[1]!)}, expected 0x00 0x00)`);
  }
  const type = TYPES[buf[2]!];
  if (type === undefined) throw new Error(`${name}: unknown IDX type code 0x${hex(buf[2]!)}`);
  const ndim = buf[3]!;
  if (ndim < 1 || ndim > 8) throw new Error(`${name}: IDX dimension count ${ndim} is out of range 1..8`);
  const header = 4 + 4 * ndim;
  if (buf.length < header) throw new Error(`${name}: truncated IDX header (${buf.length} bytes, need ${header})`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const shape: number[] = [];
  let count = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    if (d === 0) throw new Error(`${name}: IDX dimension ${i} is 0`);
    shape.push(d);
    count *= d;
    // Checked at every step so the product can never overflow a double's exact range.
    if (count * type.bytes > maxBytes) {
      throw new Error(`${name}: IDX data would need more than ${maxBytes} bytes (shape starts ${shape.join('x')})`);
    }
  }
  const expected = header + count * type.bytes;
  if (buf.length !== expected) {
    throw new Error(`${name}: IDX file is ${buf.length} bytes but its header (${type.name} ${shape.join('x')}) needs exactly ${expected}`);
  }
  const body = buf.subarray(header);
  let data: IdxArray['data'];
  switch (type.name) {
    case 'uint8':
      data = Uint8Array.from(body);
      break;
    case 'int8':
      data = Int8Array.from(body, (b) => (b << 24) >> 24);
      break;
    default: {
      // Multi-byte IDX values are big-endian.
      const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
      const n = count;
      if (type.name === 'int16') {
        data = new Int16Array(n);
        for (let i = 0; i < n; i++) data[i] = dv.getInt16(2 * i, false);
      } else if (type.name === 'int32') {
        data = new Int32Array(n);
        for (let i = 0; i < n; i++) data[i] = dv.getInt32(4 * i, false);
      } else if (type.name === 'float32') {
        data = new Float32Array(n);
        for (let i = 0; i < n; i++) data[i] = dv.getFloat32(4 * i, false);
      } else {
        data = new Float64Array(n);
        for (let i = 0; i < n; i++) data[i] = dv.getFloat64(8 * i, false);
      }
    }
  }
  return { type: type.name, shape, data };
}

/**
 * Reads an IDX file, gunzipping it when it starts with the gzip magic bytes (whatever its name).
 * @example readIdx('/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz')
 */
export function readIdx(path: string, opts: ReadIdxOptions = {}): IdxArray {
  const maxBytes = opts.maxBytes ?? IDX_MAX_BYTES;
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (e) {
    throw new Error(`${path}: cannot read IDX file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let bytes: Uint8Array = raw;
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      // The cap bounds the decompressed size too: a gzip bomb fails here, not in memory.
      bytes = gunzipSync(raw, { maxOutputLength: maxBytes + 4 + 4 * 8 });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why =
        code === 'Z_BUF_ERROR'
          ? 'truncated gzip data'
          : code === 'ERR_BUFFER_TOO_LARGE' || (e as RangeError).name === 'RangeError'
            ? `decompressed data exceeds ${maxBytes} bytes`
            : `corrupt gzip data (${(e as Error).message})`;
      throw new Error(`${path}: ${why}`);
    }
  }
  return parseIdx(bytes, path, opts);
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}
