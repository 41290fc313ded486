/**
 * The matrix-multiply core shared by matmul, linear and the three convolution kernels (implicit
 * GEMM): C[b](m, n) = Σ_k A[b](m, k) · B[b](k, n), in two implementations: a workgroup-memory
 * tiled kernel (GPUs) and a barrier-free one (software adapters), chosen by `Runtime.gemmVariant`.
 *
 * The caller describes how to read A and B (a `Loader` each: what depends on the row or column
 * only, what depends on k only, and the read combining both; only called in range) and either a
 * `store_c(b, m, n, v)` or a plain row-major [batch, M, N] output. A and B are never materialized:
 * for a convolution, B's read computes the input pixel of (channel, tap) × (image, output
 * position), with zero padding, on the fly; splitting the index arithmetic lets a kernel compute
 * the per-column part (image, output position) once instead of once per k.
 *
 * Tiled: each workgroup computes a TM×TN tile of C; the K loop walks TK-deep slices, every thread
 * loads a few elements of the A and B slices into workgroup memory, then accumulates a 4×4
 * micro-tile (rows 4·ty + i, columns 4·tx + j) as four vec4 multiply-adds per k from two vec4
 * reads of workgroup memory (vector arithmetic also keeps the kernel small: SwiftShader compiles
 * it about twice as fast as the same tile in scalar loops). Tiles shrink to 32 or 16 for small M
 * or N so small layers do not waste threads. When the output has few tiles but K is long (weight
 * gradients: K = batch × positions) the K range is split over workgroups ("split-K") and the
 * partial products are summed by a second kernel.
 */
import type { GemmVariant, Runtime } from './runtime.js';
import type { Binding } from './commands.js';
import type { GpuStorage } from './storage.js';
import { reduce } from './reduce.js';
import { PRELUDE, storageBinding, u } from './wgsl.js';

/** Depth of the K slices held in workgroup memory. */
const TK = 16;

/** A GEMM problem: sizes plus the WGSL that reads A and B. */
export interface GemmSpec {
  /** For the kernel's comment line and error messages. */
  name: string;
  M: number;
  N: number;
  K: number;
  /** Independent problems (matmul batch, conv groups): dispatch z. */
  batch: number;
  /** WGSL declarations of the caller's storage bindings (0..k-1) and helper functions. */
  decls: string;
  /** How to read A(m, k). */
  a: Loader;
  /** How to read B(k, n). */
  b: Loader;
  /** Which index of A is contiguous in memory (consecutive threads load along it). */
  aContiguous: 'm' | 'k';
  /** Which index of B is contiguous in memory. */
  bContiguous: 'k' | 'n';
}

/**
 * How to read one operand, as WGSL function bodies over `vec4i` scratch values:
 * `outer(b, i)` depends only on the row m (for A) or the column n (for B), `inner(b, k)` only on
 * k, and `load(b, o, q)` returns the element from o = outer(..) and q = inner(..). Offsets fit i32
 * (buffers are at most 2^30 bytes).
 */
export interface Loader {
  outer: string;
  inner: string;
  load: string;
}

/**
 * A loader reading `name[outer(i) + inner(k)]` where the two offsets are WGSL u32 expressions in
 * `i` (row/column) and `k` (and `b`, the problem index): every plain strided matrix.
 */
export function strided(name: string, outer: string, inner: string): Loader {
  return {
    outer: `  return vec4i(i32(${outer}), 0, 0, 0);`,
    inner: `  return vec4i(i32(${inner}), 0, 0, 0);`,
    load: `  return ${name}[u32(o.x + q.x)];`,
  };
}

/** The loader functions `<x>_outer`, `<x>_inner`, `<x>_load` and the combined `load_<x>`. */
function loaderFns(x: 'a' | 'b', l: Loader): string {
  const combined =
    x === 'a'
      ? 'fn load_a(b: u32, m: u32, k: u32) -> f32 { return a_load(b, a_outer(b, m), a_inner(b, k)); }'
      : 'fn load_b(b: u32, k: u32, n: u32) -> f32 { return b_load(b, b_outer(b, n), b_inner(b, k)); }';
  return `fn ${x}_outer(b: u32, i: u32) -> vec4i {
${l.outer}
}
fn ${x}_inner(b: u32, k: u32) -> vec4i {
${l.inner}
}
fn ${x}_load(b: u32, o: vec4i, q: vec4i) -> f32 {
${l.load}
}
${combined}`;
}

function tileFor(size: number): number {
  return size >= 48 ? 64 : size >= 24 ? 32 : 16;
}

/** The WGSL of a GEMM kernel; `store` is the body of `store_c(b, m, n, v)`. */
function gemmCode(s: GemmSpec, storeDecl: string, store: string, splits: number, kChunk: number): string {
  const TM = tileFor(s.M);
  const TN = tileFor(s.N);
  const WM = TM / 4;
  const WN = TN / 4;
  const T = WM * WN;
  const tilesN = Math.ceil(s.N / TN);
  const tiles = Math.ceil(s.M / TM) * tilesN;
  // Element l of the A slice: (mm, kk) with consecutive l along A's contiguous index.
  const aIdx = s.aContiguous === 'k' ? `let kk = l % ${u(TK)}; let mm = l / ${u(TK)};` : `let mm = l % ${u(TM)}; let kk = l / ${u(TM)};`;
  const bIdx = s.bContiguous === 'n' ? `let nn = l % ${u(TN)}; let kk = l / ${u(TN)};` : `let kk = l % ${u(TK)}; let nn = l / ${u(TK)};`;
  return `// gemm ${s.name} M=${s.M} N=${s.N} K=${s.K} batch=${s.batch} splits=${splits}
${PRELUDE}
${s.decls}
${storeDecl}
${loaderFns('a', s.a)}
${loaderFns('b', s.b)}
fn store_c(b: u32, s: u32, m: u32, n: u32, v: f32) {
${store}
}
var<workgroup> As: array<vec4f, ${(TK * TM) / 4}>;
var<workgroup> Bs: array<vec4f, ${(TK * TN) / 4}>;
@compute @workgroup_size(${T})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let tile = wid.x + wid.y * nwg.x;
  if (tile >= ${u(tiles)}) { return; }
  let b = wid.z / ${u(splits)};
  let s = wid.z % ${u(splits)};
  let m0 = (tile / ${u(tilesN)}) * ${u(TM)};
  let n0 = (tile % ${u(tilesN)}) * ${u(TN)};
  let kBegin = s * ${u(kChunk)};
  let kEnd = min(${u(s.K)}, kBegin + ${u(kChunk)});
  let tx = tid % ${u(WN)};
  let ty = tid / ${u(WN)};
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var k0: u32 = kBegin; k0 < kEnd; k0 = k0 + ${u(TK)}) {
    for (var l: u32 = tid; l < ${u(TM * TK)}; l = l + ${u(T)}) {
      ${aIdx}
      let gm = m0 + mm;
      let gk = k0 + kk;
      var v: f32 = 0.0;
      if (gm < ${u(s.M)} && gk < kEnd) { v = load_a(b, gm, gk); }
      As[(kk * ${u(TM)} + mm) / 4u][mm % 4u] = v;
    }
    for (var l: u32 = tid; l < ${u(TN * TK)}; l = l + ${u(T)}) {
      ${bIdx}
      let gn = n0 + nn;
      let gk = k0 + kk;
      var v: f32 = 0.0;
      if (gn < ${u(s.N)} && gk < kEnd) { v = load_b(b, gk, gn); }
      Bs[(kk * ${u(TN)} + nn) / 4u][nn % 4u] = v;
    }
    workgroupBarrier();
    for (var kk: u32 = 0u; kk < ${u(TK)}; kk = kk + 1u) {
      let av = As[kk * ${u(WM)} + ty];
      let bv = Bs[kk * ${u(WN)} + tx];
      acc0 = acc0 + av.x * bv;
      acc1 = acc1 + av.y * bv;
      acc2 = acc2 + av.z * bv;
      acc3 = acc3 + av.w * bv;
    }
    workgroupBarrier();
  }
  let gm = m0 + ty * 4u;
  let gn = n0 + tx * 4u;
  store4(b, s, gm, gn, acc0);
  store4(b, s, gm + 1u, gn, acc1);
  store4(b, s, gm + 2u, gn, acc2);
  store4(b, s, gm + 3u, gn, acc3);
}
fn store4(b: u32, s: u32, m: u32, n: u32, v: vec4f) {
  if (m >= ${u(s.M)}) { return; }
  for (var j: u32 = 0u; j < 4u; j = j + 1u) {
    if (n + j < ${u(s.N)}) { store_c(b, s, m, n + j, v[j]); }
  }
}`;
}

/**
 * The same product without workgroup memory: each thread computes a 4×4 micro-tile straight from
 * `load_a`/`load_b` (no barriers). Used on software adapters, where a workgroup barrier costs tens
 * of microseconds (SwiftShader runs each invocation as a coroutine) and caches make global loads
 * cheap; GPUs take the tiled kernel.
 */
function gemmCodeDirect(s: GemmSpec, storeDecl: string, store: string, splits: number, kChunk: number): string {
  const tilesN = Math.ceil(s.N / 4);
  const tiles = Math.ceil(s.M / 4) * tilesN;
  return `// gemm ${s.name} M=${s.M} N=${s.N} K=${s.K} batch=${s.batch} splits=${splits} direct
${PRELUDE}
${s.decls}
${storeDecl}
${loaderFns('a', s.a)}
${loaderFns('b', s.b)}
fn store_c(b: u32, s: u32, m: u32, n: u32, v: f32) {
${store}
}
@compute @workgroup_size(${DIRECT_WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let tile = gid.x + gid.y * nwg.x * ${u(DIRECT_WG)};
  if (tile >= ${u(tiles)}) { return; }
  let b = gid.z / ${u(splits)};
  let s = gid.z % ${u(splits)};
  let m0 = (tile / ${u(tilesN)}) * 4u;
  let n0 = (tile % ${u(tilesN)}) * 4u;
  let kBegin = s * ${u(kChunk)};
  let kEnd = min(${u(s.K)}, kBegin + ${u(kChunk)});
  // Rows and columns past the edge are clamped to the last one (valid reads, results dropped).
  let mo0 = a_outer(b, m0);
  let mo1 = a_outer(b, min(m0 + 1u, ${u(s.M - 1)}));
  let mo2 = a_outer(b, min(m0 + 2u, ${u(s.M - 1)}));
  let mo3 = a_outer(b, min(m0 + 3u, ${u(s.M - 1)}));
  let no0 = b_outer(b, n0);
  let no1 = b_outer(b, min(n0 + 1u, ${u(s.N - 1)}));
  let no2 = b_outer(b, min(n0 + 2u, ${u(s.N - 1)}));
  let no3 = b_outer(b, min(n0 + 3u, ${u(s.N - 1)}));
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var k: u32 = kBegin; k < kEnd; k = k + 1u) {
    let ka = a_inner(b, k);
    let kb = b_inner(b, k);
    let av = vec4f(a_load(b, mo0, ka), a_load(b, mo1, ka), a_load(b, mo2, ka), a_load(b, mo3, ka));
    let bv = vec4f(b_load(b, no0, kb), b_load(b, no1, kb), b_load(b, no2, kb), b_load(b, no3, kb));
    acc0 = acc0 + av.x * bv;
    acc1 = acc1 + av.y * bv;
    acc2 = acc2 + av.z * bv;
    acc3 = acc3 + av.w * bv;
  }
  store4(b, s, m0, n0, acc0);
  store4(b, s, m0 + 1u, n0, acc1);
  store4(b, s, m0 + 2u, n0, acc2);
  store4(b, s, m0 + 3u, n0, acc3);
}
fn store4(b: u32, s: u32, m: u32, n: u32, v: vec4f) {
  if (m >= ${u(s.M)}) { return; }
  for (var j: u32 = 0u; j < 4u; j = j + 1u) {
    if (n + j < ${u(s.N)}) { store_c(b, s, m, n + j, v[j]); }
  }
}`;
}

/** Threads per workgroup of the direct kernel. */
const DIRECT_WG = 64;

export type { GemmVariant };

function code(rt: Runtime, s: GemmSpec, storeDecl: string, store: string, splits: number, kChunk: number): string {
  return rt.gemmVariant === 'direct' ? gemmCodeDirect(s, storeDecl, store, splits, kChunk) : gemmCode(s, storeDecl, store, splits, kChunk);
}

/** Workgroup grid covering every tile (x·y ≥ tiles, each ≤ 65535) of z problems. */
function grid(rt: Runtime, s: GemmSpec, z: number): [number, number, number] {
  const groups = rt.gemmVariant === 'direct' ? Math.ceil((Math.ceil(s.M / 4) * Math.ceil(s.N / 4)) / DIRECT_WG) : Math.ceil(s.M / tileFor(s.M)) * Math.ceil(s.N / tileFor(s.N));
  const x = Math.min(groups, 65535);
  return [x, Math.ceil(groups / x), z];
}

/**
 * Runs a GEMM whose result is written by the caller's `store` (body of `store_c(b, s, m, n, v)`,
 * with `storeDecl` declaring its binding(s), which follow the caller's `bindings`).
 */
export function gemmStore(rt: Runtime, s: GemmSpec, bindings: readonly (GpuStorage | Binding)[], storeDecl: string, store: string): void {
  if (s.M === 0 || s.N === 0 || s.batch === 0) return;
  const K = Math.max(s.K, 1);
  rt.run(code(rt, s, storeDecl, store, 1, K), bindings, grid(rt, s, s.batch));
}

/** How many slices to split K into: enough workgroups to fill a GPU when the output is small. */
function splitsFor(s: GemmSpec): number {
  const tiles = Math.ceil(s.M / tileFor(s.M)) * Math.ceil(s.N / tileFor(s.N)) * s.batch;
  if (s.K < 2048 || tiles >= 128) return 1;
  return Math.max(1, Math.min(Math.ceil(s.K / 1024), Math.ceil(256 / tiles), 64));
}

/** Runs a GEMM into a new row-major [batch, M, N] float32 storage (splitting K when that helps). */
export function gemmPlain(rt: Runtime, s: GemmSpec, bindings: readonly (GpuStorage | Binding)[]): GpuStorage {
  const size = s.batch * s.M * s.N;
  const splits = s.K === 0 ? 1 : splitsFor(s);
  const k = bindings.length;
  const decl = storageBinding(k, 'C_OUT', 'f32', true);
  if (splits === 1) {
    const out = rt.alloc('float32', size);
    if (size === 0) return out;
    if (s.K === 0) {
      rt.run(
        `// gemm ${s.name} K=0\n${storageBinding(0, 'C_OUT', 'f32', true)}\n@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) { let i = g.x + g.y * nwg.x * 64u; if (i < ${u(size)}) { C_OUT[i] = 0.0; } }`,
        [out],
        [Math.min(Math.ceil(size / 64), 65535), Math.ceil(Math.ceil(size / 64) / 65535), 1],
      );
      return out;
    }
    rt.run(code(rt, s, decl, `  C_OUT[(b * ${u(s.M)} + m) * ${u(s.N)} + n] = v;`, 1, s.K), [...bindings, out], grid(rt, s, s.batch));
    return out;
  }
  const kChunk = Math.ceil(s.K / splits / TK) * TK;
  const used = Math.ceil(s.K / kChunk);
  const partial = rt.alloc('float32', used * size);
  rt.run(code(rt, s, decl, `  C_OUT[((s * ${u(s.batch)} + b) * ${u(s.M)} + m) * ${u(s.N)} + n] = v;`, used, kChunk), [...bindings, partial], grid(rt, s, s.batch * used));
  try {
    return reduce(rt, 'sum', partial, [used, size], [0]);
  } finally {
    partial.dispose();
  }
}
