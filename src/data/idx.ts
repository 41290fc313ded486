/**
 * Reader of IDX files (the MNIST / Fashion-MNIST format), raw or gzipped, that validates
 * everything a corrupt or hostile file could get wrong: magic bytes, type code, dimension count,
 * sizes (> 0, overflow-safe product, capped), exact length; gzip errors (truncated, corrupt, not
 * gzip at all) are reported as such. Every error names the file.
 *
 * The cap (`maxBytes`) is checked against the header's sizes before anything is allocated, against
 * the file's size before it is read, and bounds the gunzip output, so neither a hostile header nor
 * a gzip bomb can make the reader allocate more than about `maxBytes`.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/** IDX element types by type code. */
const TYPES: Record<number, { name: IdxType; bytes: number }> = {
  0x08: { name: 'uint8', bytes: 1 },
  0x09: { name: 'int8', bytes: 1 },
  0x0b: { name: 'int16', bytes: 2 },
  0x0c: { name: 'int32', bytes: 4 },
  0x0d: { name: 'float32', bytes: 4 },
  0x0e: { name: 'float64', bytes: 8 },
};

/** Element type names of IDX files. */
export type IdxType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

/** Default cap on the decoded size: 1 GiB (Fashion-MNIST's train images are 47 MB). */
export const IDX_MAX_BYTES = 1 << 30;

/** Largest dimension count accepted (the format allows 255; real files use 1..4). */
export const IDX_MAX_DIMS = 8;

/** A decoded IDX array. */
export interface IdxArray {
  /** Element type name (`uint8` for (Fashion-)MNIST). */
  type: IdxType;
  /** Dimensions, e.g. [60000, 28, 28]. */
  shape: number[];
  /** The elements, row-major, converted to the platform's byte order. */
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

/** Options of `readIdx` / `parseIdx`. */
export interface ReadIdxOptions {
  /** Largest accepted decoded size in bytes (default `IDX_MAX_BYTES`). */
  maxBytes?: number;
  /** Allocate the result in a SharedArrayBuffer (so worker threads can share it without copies). */
  shared?: boolean;
}

const GZIP_MAGIC0 = 0x1f;
const GZIP_MAGIC1 = 0x8b;

function alloc(bytes: number, shared: boolean): ArrayBuffer | SharedArrayBuffer {
  return shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
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
  if (type === undefined) {
    throw new Error(`${name}: unknown IDX type code 0x${hex(buf[2]!)} (expected 08, 09, 0b, 0c, 0d or 0e)`);
  }
  const ndim = buf[3]!;
  if (ndim < 1 || ndim > IDX_MAX_DIMS) {
    throw new Error(`${name}: IDX dimension count ${ndim} is out of range 1..${IDX_MAX_DIMS}`);
  }
  const header = 4 + 4 * ndim;
  if (buf.length < header) throw new Error(`${name}: truncated IDX header (${buf.length} bytes, need ${header})`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < ndim; i++) shape.push(view.getUint32(4 + 4 * i, false));
  let count = 1;
  for (let i = 0; i < ndim; i++) {
    const d = shape[i]!;
    if (d === 0) throw new Error(`${name}: IDX dimension ${i} is 0 (shape ${shape.join('x')})`);
    count *= d;
    // Checked at every step: each factor is < 2^32 and the running product stays <= maxBytes, so
    // the product can never leave a double's exact integer range.
    if (count * type.bytes > maxBytes) {
      throw new Error(
        `${name}: IDX header declares ${type.name} ${shape.join('x')}, more than the ${maxBytes}-byte cap ` +
          '(raise maxBytes if the file is genuine)',
      );
    }
  }
  const expected = header + count * type.bytes;
  if (buf.length !== expected) {
    const what = buf.length < expected ? 'truncated' : 'has trailing bytes';
    throw new Error(
      `${name}: IDX file ${what}: ${buf.length} bytes but its header (${type.name} ${shape.join('x')}) needs exactly ${expected}`,
    );
  }
  const body = buf.subarray(header);
  const shared = opts.shared ?? false;
  let data: IdxArray['data'];
  switch (type.name) {
    case 'uint8':
      data = new Uint8Array(alloc(count, shared));
      data.set(body);
      break;
    case 'int8':
      data = new Int8Array(alloc(count, shared));
      data.set(new Int8Array(body.buffer, body.byteOffset, count));
      break;
    default: {
      // Multi-byte IDX values are big-endian.
      const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
      const n = count;
      const ab = alloc(count * type.bytes, shared);
      if (type.name === 'int16') {
        const a = new Int16Array(ab);
        for (let i = 0; i < n; i++) a[i] = dv.getInt16(2 * i, false);
        data = a;
      } else if (type.name === 'int32') {
        const a = new Int32Array(ab);
        for (let i = 0; i < n; i++) a[i] = dv.getInt32(4 * i, false);
        data = a;
      } else if (type.name === 'float32') {
        const a = new Float32Array(ab);
        for (let i = 0; i < n; i++) a[i] = dv.getFloat32(4 * i, false);
        data = a;
      } else {
        const a = new Float64Array(ab);
        for (let i = 0; i < n; i++) a[i] = dv.getFloat64(8 * i, false);
        data = a;
      }
    }
  }
  return { type: type.name, shape, data };
}

/** Reads a whole file, refusing (before reading) files larger than `limit` bytes. */
function readCapped(path: string, limit: number): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new Error(`${path}: cannot read IDX file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`${path}: not a regular file`);
    if (st.size > limit) {
      throw new Error(`${path}: file is ${st.size} bytes, more than the ${limit}-byte cap for an IDX file (raise maxBytes if genuine)`);
    }
    const buf = Buffer.allocUnsafe(st.size);
    let off = 0;
    while (off < st.size) {
      const r = readSync(fd, buf, off, st.size - off, off);
      if (r === 0) break;
      off += r;
    }
    return off === st.size ? buf : buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads an IDX file, gunzipping it when it starts with the gzip magic bytes. A file whose name
 * ends in `.gz` must be gzip data. Errors name the file and say what is wrong (truncated gzip,
 * corrupt gzip, bad magic, length mismatch, size over the cap...).
 * @example readIdx('/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz')
 */
export function readIdx(path: string, opts: ReadIdxOptions = {}): IdxArray {
  const maxBytes = opts.maxBytes ?? IDX_MAX_BYTES;
  const maxHeader = 4 + 4 * IDX_MAX_DIMS;
  // gzip never expands incompressible data by more than ~0.1% plus a few bytes of framing.
  const raw = readCapped(path, Math.ceil((maxBytes + maxHeader) * 1.01) + 1024);
  const isGzip = raw.length >= 2 && raw[0] === GZIP_MAGIC0 && raw[1] === GZIP_MAGIC1;
  let bytes: Uint8Array = raw;
  if (isGzip) {
    try {
      // The cap bounds the decompressed size too: a gzip bomb fails here, not in memory.
      bytes = gunzipSync(raw, { maxOutputLength: maxBytes + maxHeader });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why =
        code === 'Z_BUF_ERROR'
          ? 'truncated gzip data (unexpected end of file; the download or copy is incomplete)'
          : code === 'ERR_BUFFER_TOO_LARGE' || (e as Error).name === 'RangeError'
            ? `decompressed data exceeds the ${maxBytes}-byte cap (raise maxBytes if the file is genuine)`
            : `corrupt gzip data (${(e as Error).message})`;
      throw new Error(`${path}: ${why}`);
    }
  } else if (/\.gz$/i.test(path)) {
    throw new Error(`${path}: not gzip data (the name ends in .gz but the file does not start with the gzip magic bytes 1f 8b)`);
  }
  return parseIdx(bytes, path, opts);
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}
