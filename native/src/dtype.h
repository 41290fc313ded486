// Element types of the addon's buffers: float32, bfloat16 (raw bits in uint16_t) and int32.
//
// bfloat16 is a storage and transfer type: every bf16 kernel computes in float32 and rounds once
// on output (kernels.ts). Two ways run it:
// - oneDNN's own bf16 primitives (convolution, matmul, pooling, batch norm) where oneDNN has a
//   non-reference implementation for this CPU (its jit kernels need AVX-512; on AVX2 oneDNN 2.6
//   has no bf16 primitive at all, only reorders);
// - otherwise the bf16 operands are widened to float32 in their own layout (exact), the float32
//   kernel runs, and the result is narrowed to bf16 in its layout (one rounding, to nearest even).
// The hand-written elementwise loops read and write bf16 directly, converting in small chunks
// that stay in L1 (bf16Map / bf16Zip below), so they move half the bytes of float32 on any CPU.
#pragma once

#include <algorithm>
#include <cstring>
#include <string>

#include "general.h"
#include "simd.h"

namespace cn {

/** Bytes per element of `t` (2 for bf16, 4 for f32 and s32). */
inline size_t dtSize(dt t) { return t == dt::bf16 ? 2 : 4; }

/** The dtype name the TypeScript side uses. */
inline const char* dtName(dt t) { return t == dt::s32 ? "int32" : t == dt::bf16 ? "bfloat16" : "float32"; }

/** `md` with element type `t` and the same layout (blocked strides count elements, not bytes). */
memory::desc withType(const memory::desc& md, dt t);

/**
 * float32 -> bfloat16 bits, rounded to nearest even; NaN stays a quiet NaN with its sign (as
 * PyTorch's c10::BFloat16 and src/tensor/dtype.ts).
 */
inline uint16_t toBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/** bfloat16 bits -> float32 (exact). */
inline float fromBf16(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/** d[i] = float(s[i]) for n elements (multiversioned). */
void widenRange(const uint16_t* s, float* d, int64_t n);
/** d[i] = bf16(s[i]) for n elements, rounded to nearest even (multiversioned). */
void narrowRange(const float* s, uint16_t* d, int64_t n);

/** A float32 copy of `b` in the same layout (`b` itself when it is float32; int32: plain). */
BufPtr widen(const BufPtr& b);
/** A bfloat16 copy of the float32 (or bf16: itself) `b` in the same layout. */
BufPtr narrow(const BufPtr& b);
/**
 * `b` converted to element type `t`: itself when it has it; float32 <-> bf16 in the same layout
 * (zero padding stays zero); to or from int32 on plain data (float -> int32 truncates toward zero,
 * NaN gives 0, out of range saturates).
 */
BufPtr convertType(const BufPtr& b, dt t);

/** Elements per chunk of bf16Map / bf16Zip (8 KiB of floats per array: stays in L1). */
constexpr int64_t kBf16Chunk = 2048;

/**
 * y[0..n) = f over bf16 data: each chunk is widened into a float buffer, `f(xs, ys, m)` maps it,
 * and the result is narrowed into y (x and y may be the same array). Parallel above kParallelMin.
 */
template <class F>
void bf16Map(const uint16_t* x, uint16_t* y, int64_t n, F f) {
  gen::parallelFor(n, [&](int64_t b, int64_t e) {
    alignas(64) float xa[kBf16Chunk];
    alignas(64) float ya[kBf16Chunk];
    for (int64_t i = b; i < e; i += kBf16Chunk) {
      const int64_t m = std::min(kBf16Chunk, e - i);
      widenRange(x + i, xa, m);
      f(static_cast<const float*>(xa), static_cast<float*>(ya), m);
      narrowRange(ya, y + i, m);
    }
  });
}

/** Like bf16Map for two inputs: `f(as, bs, ys, m)` (a, b, y may alias). */
template <class F>
void bf16Zip(const uint16_t* a, const uint16_t* b, uint16_t* y, int64_t n, F f) {
  gen::parallelFor(n, [&](int64_t lo, int64_t hi) {
    alignas(64) float aa[kBf16Chunk];
    alignas(64) float ba[kBf16Chunk];
    alignas(64) float ya[kBf16Chunk];
    for (int64_t i = lo; i < hi; i += kBf16Chunk) {
      const int64_t m = std::min(kBf16Chunk, hi - i);
      widenRange(a + i, aa, m);
      widenRange(b + i, ba, m);
      f(static_cast<const float*>(aa), static_cast<const float*>(ba), static_cast<float*>(ya), m);
      narrowRange(ya, y + i, m);
    }
  });
}

/** How bf16 kernels with a oneDNN primitive compute (setBf16Mode; default from CONVNET_BF16). */
enum class Bf16Mode {
  /** oneDNN's bf16 primitive where it has a non-reference implementation here, else float32. */
  Auto,
  /** Always widen to float32, run the float32 primitive, narrow (for tests and comparisons). */
  F32,
};
Bf16Mode bf16Mode();

/**
 * True when a oneDNN bf16 primitive whose implementation is named `impl` should be used rather
 * than the float32 path: its reference implementations ("ref:any") are plain C++ loops, far slower
 * than float32 jit kernels on converted data.
 */
bool bf16ImplFast(const char* impl);

/**
 * A primitive cache entry made by `make()` (an object with a `pd` member), for a bf16 primitive
 * when `bf16`: then null when oneDNN has no implementation for this CPU (it throws) or only its
 * reference one (see bf16ImplFast), so the caller takes the float32 path.
 */
template <class T, class F>
std::unique_ptr<T> bf16Entry(bool bf16, F&& make) {
  if (!bf16) return make();
  try {
    std::unique_ptr<T> e = make();
    if (!bf16ImplFast(e->pd.impl_info_str())) return nullptr;
    return e;
  } catch (const dnnl::error&) {
    return nullptr;
  }
}

/** True when a bf16 kernel should run oneDNN's bf16 primitive `entry` (it exists, mode auto). */
inline bool useBf16Primitive(const void* entry) { return entry != nullptr && bf16Mode() == Bf16Mode::Auto; }

/**
 * True when oneDNN's reorders to or from bf16 are jit kernels (AVX-512); without AVX-512 they are
 * reference loops, measured ~50x slower than its float32 reorders, so layout changes of bf16 data
 * then run in float32 (reorderTo, layout.cc) with the conversions done here.
 */
bool jitBf16Reorders();

/** oneDNN's effective ISA name (e.g. "avx2", "avx512_core_bf16"). */
std::string isaName();
/** True when the CPU runs bf16 natively in oneDNN (avx512_core_bf16 or AMX). */
bool bf16Native();

}  // namespace cn
