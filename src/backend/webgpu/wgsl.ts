/**
 * WGSL building blocks shared by the kernel generators: literals, IEEE special values that do not
 * depend on the compiler's floating-point assumptions, flat 1-D dispatch, uniform structs and index
 * arithmetic over shapes baked in as constants.
 *
 * Why NaN/Inf are tested on bits: WGSL lets implementations assume that run-time floats are finite
 * ("may assume that overflow, infinities and NaNs are not present"), so `x != x` may be folded to
 * false and `max(x, NaN)` is unspecified. PyTorch's NaN propagation is therefore written with
 * explicit bit tests and `select`s.
 */
import type { DType, Shape } from '../kernels.js';

/** Threads per workgroup of the flat (one thread per element) kernels. */
export const WG = 256;

/** Largest workgroup count along one dispatch dimension (WebGPU's default limit). */
export const MAX_GROUPS = 65535;

/** A u32 literal. */
export function u(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`webgpu: ${n} is not a u32 constant`);
  return `${n}u`;
}

/** An i32 literal. */
export function i(n: number): string {
  if (!Number.isInteger(n) || n < -0x80000000 || n > 0x7fffffff) throw new Error(`webgpu: ${n} is not an i32 constant`);
  return n < 0 ? `(${n}i)` : `${n}i`;
}

/** The WGSL scalar type of a dtype this backend stores. */
export function wgslType(dtype: DType): 'f32' | 'i32' {
  if (dtype === 'float32') return 'f32';
  if (dtype === 'int32') return 'i32';
  throw new Error(`webgpu: no WGSL type for ${dtype}`);
}

/**
 * Helper functions every kernel may use: NaN/Inf tests on bits, and NaN/Inf values. The values come
 * from private variables because a constant expression that evaluates to NaN or Infinity is a
 * shader-creation error in WGSL ("value inf cannot be represented as 'f32'").
 */
export const PRELUDE = /* wgsl */ `
fn is_nan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
fn is_inf(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) == 0x7f800000u; }
var<private> NAN_BITS: u32 = 0x7fc00000u;
var<private> INF_BITS: u32 = 0x7f800000u;
fn nan_f32() -> f32 { return bitcast<f32>(NAN_BITS); }
fn inf_f32() -> f32 { return bitcast<f32>(INF_BITS); }
`;

/**
 * Workgroup counts for `n` threads in workgroups of `wg`: a 2-D grid when one dimension would
 * exceed the 65535 limit. Kernels recover the flat index with `FLAT_INDEX`.
 */
export function flatGroups(n: number, wg = WG): [number, number, number] {
  const groups = Math.max(1, Math.ceil(n / wg));
  if (groups <= MAX_GROUPS) return [groups, 1, 1];
  const y = Math.ceil(groups / MAX_GROUPS);
  return [Math.ceil(groups / y), y, 1];
}

/** The entry point of a flat kernel; the body sees `idx` and returns early past `n`. */
export function flatMain(n: number, body: string, wg = WG): string {
  return /* wgsl */ `
@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * (nwg.x * ${u(wg)});
  if (idx >= ${u(n)}) { return; }
${body}
}`;
}

/** A storage binding of `type` elements. */
export function storageBinding(binding: number, name: string, type: string, write: boolean): string {
  return `@group(0) @binding(${binding}) var<storage, ${write ? 'read_write' : 'read'}> ${name}: array<${type}>;`;
}

/** A run-time scalar of a uniform struct. */
export interface UniformField {
  name: string;
  type: 'f32' | 'i32' | 'u32';
  value: number;
}

/**
 * A uniform struct `Uniforms` (variable `p`) at `binding` holding `fields` (4-byte scalars), and its packed bytes (the
 * struct is padded to 16 bytes, as uniform layout requires).
 */
export function uniforms(binding: number, fields: readonly UniformField[]): { decl: string; data: ArrayBuffer } {
  const n = Math.max(4, Math.ceil(fields.length / 4) * 4);
  const data = new ArrayBuffer(n * 4);
  const fv = new Float32Array(data);
  const iv = new Int32Array(data);
  const uv = new Uint32Array(data);
  fields.forEach((fl, k) => {
    if (fl.type === 'f32') fv[k] = fl.value;
    else if (fl.type === 'i32') iv[k] = fl.value;
    else uv[k] = fl.value;
  });
  const members = fields.map((fl) => `  ${fl.name}: ${fl.type},`).join('\n');
  const pad = Array.from({ length: n - fields.length }, (_, k) => `  _pad${k}: u32,`).join('\n');
  const decl = `struct Uniforms {\n${members}\n${pad}\n};\n@group(0) @binding(${binding}) var<uniform> p: Uniforms;`;
  return { decl, data };
}

/** Row-major strides of a shape. */
export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d]!;
  }
  return s;
}

/** Number of elements of a shape. */
export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * WGSL statements computing `out = Σ_d coord_d(flat) · strides[d]` where coord_d are the row-major
 * coordinates of the flat index `flat` in `shape`: the offset of an element of a strided view.
 * Axes of size 1 and zero strides are skipped (they contribute nothing).
 */
export function stridedOffset(out: string, flat: string, shape: Shape, strides: readonly number[]): string {
  const lines = [`var ${out}: u32 = 0u;`, `{`, `  var r: u32 = ${flat};`];
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d]!;
    const s = strides[d]!;
    if (n === 1) continue;
    // The leading non-trivial axis takes the whole remainder (no modulo needed).
    const leading = shape.slice(0, d).every((x) => x === 1);
    if (leading) {
      if (s !== 0) lines.push(`  ${out} += r * ${u(s)};`);
    } else {
      if (s !== 0) lines.push(`  ${out} += (r % ${u(n)}) * ${u(s)};`);
      lines.push(`  r = r / ${u(n)};`);
    }
  }
  lines.push(`}`);
  return lines.map((l) => `  ${l}`).join('\n');
}

/**
 * A workgroup reduction helper `fn tree_<name>(t: u32, v: f32) -> f32` over `wg` threads (a power of
 * two) combining with `combine` (WGSL expression of a and b). Every thread of the workgroup must call
 * it (it contains barriers) and gets the result. Starts with a barrier so consecutive calls may reuse
 * the workgroup array.
 */
export function treeReduce(name: string, wg: number, combine: string): string {
  return `var<workgroup> tree_${name}_buf: array<f32, ${wg}>;
fn tree_${name}(t: u32, v: f32) -> f32 {
  workgroupBarrier();
  tree_${name}_buf[t] = v;
  workgroupBarrier();
  for (var s: u32 = ${u(wg / 2)}; s > 0u; s = s >> 1u) {
    if (t < s) {
      let a = tree_${name}_buf[t];
      let b = tree_${name}_buf[t + s];
      tree_${name}_buf[t] = ${combine};
    }
    workgroupBarrier();
  }
  return tree_${name}_buf[0];
}`;
}
