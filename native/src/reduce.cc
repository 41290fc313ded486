// Reductions (sum/mean/max/min over a set of axes, keepdim result) and argmax, as OpenMP loops on
// plain data. (oneDNN's reduction primitive only has a jit kernel for innermost reductions; the
// reference one it falls back to for e.g. [N,C,H,W] -> [1,C,1,1] is an order of magnitude slower.)
// Sums accumulate in double; max/min propagate NaN (PyTorch). Results are float32 (int32 inputs
// are read as numbers), or bfloat16 for a bf16 input (reduced in float32, rounded once). Loops run
// serially up to kParallelMin elements.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "dtype.h"
#include "general.h"
#include "simd.h"

namespace cn {
namespace gen {

namespace {

/** Row-major decomposition of a flat index over (size, stride) groups. */
struct Grid {
  std::vector<int64_t> size, stride;
  int64_t count() const {
    int64_t n = 1;
    for (auto s : size) n *= s;
    return n;
  }
  int64_t offset(int64_t idx) const {
    int64_t off = 0;
    for (int i = static_cast<int>(size.size()) - 1; i >= 0; --i) {
      off += (idx % size[i]) * stride[i];
      idx /= size[i];
    }
    return off;
  }
};

// NaN-propagating max/min, as torch.amax/amin (std::max and omp simd reductions drop NaN).
static inline float nanMax(float a, float b) { return (a != a) ? a : ((b > a || b != b) ? b : a); }
static inline float nanMin(float a, float b) { return (a != a) ? a : ((b < a || b != b) ? b : a); }

// The innermost loops (multiversioned, see simd.h).
CN_SIMD double sumRun(const float* p, int64_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < n; ++j) s += p[j];
  return s;
}
CN_SIMD void sumRowInto(double* __restrict acc, const float* __restrict p, int64_t n) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) acc[j] += p[j];
}
CN_SIMD float maxRun(const float* p, int64_t n, float m) {
  for (int64_t j = 0; j < n; ++j) m = nanMax(m, p[j]);
  return m;
}
CN_SIMD void maxRowInto(float* __restrict acc, const float* __restrict p, int64_t n) {
  for (int64_t j = 0; j < n; ++j) acc[j] = nanMax(acc[j], p[j]);
}
CN_SIMD float minRun(const float* p, int64_t n, float m) {
  for (int64_t j = 0; j < n; ++j) m = nanMin(m, p[j]);
  return m;
}
CN_SIMD void minRowInto(float* __restrict acc, const float* __restrict p, int64_t n) {
  for (int64_t j = 0; j < n; ++j) acc[j] = nanMin(acc[j], p[j]);
}

template <int K>
struct Acc;
template <>
struct Acc<kSum> {
  using T = double;
  static T init() { return 0; }
  static T run(const float* p, int64_t n) { return sumRun(p, n); }
  static T comb(T a, T b) { return a + b; }
  static void rowInto(T* acc, const float* p, int64_t n) { sumRowInto(acc, p, n); }
};

template <>
struct Acc<kMax> {
  using T = float;
  static T init() { return -std::numeric_limits<float>::infinity(); }
  static T run(const float* p, int64_t n) { return maxRun(p, n, init()); }
  static T comb(T a, T b) { return nanMax(a, b); }
  static void rowInto(T* acc, const float* p, int64_t n) { maxRowInto(acc, p, n); }
};
template <>
struct Acc<kMin> {
  using T = float;
  static T init() { return std::numeric_limits<float>::infinity(); }
  static T run(const float* p, int64_t n) { return minRun(p, n, init()); }
  static T comb(T a, T b) { return nanMin(a, b); }
  static void rowInto(T* acc, const float* p, int64_t n) { minRowInto(acc, p, n); }
};

/**
 * y[o] = reduce over r of x[kept.offset(o) + red.offset(r)], where the innermost group (stride 1
 * in x) is either reduced (`innerRed`, length L) or kept (output contiguous, length L).
 */
template <int KIND>
void reduceLoop(const float* x, float* y, const Grid& kept, const Grid& red, bool innerRed,
                int64_t L, double scale) {
  using A = Acc<KIND == kMean ? kSum : KIND>;
  using T = typename A::T;
  const int nthr = omp_get_max_threads();
  const int64_t K = kept.count(), R = red.count();
  const bool big = K * R * L > kParallelMin;
  auto fin = [&](T v) { return static_cast<float>(KIND == kMean ? v * scale : v); };
  if (innerRed) {
    if (K >= nthr || !big) {
      parallelFor(K, K * R * L, [&](int64_t o0, int64_t o1) {
        for (int64_t o = o0; o < o1; ++o) {
          const float* base = x + kept.offset(o);
          T acc = A::init();
          for (int64_t r = 0; r < R; ++r) acc = A::comb(acc, A::run(base + red.offset(r), L));
          y[o] = fin(acc);
        }
      });
    } else {
      // big, few outputs: split each reduction over the team (only reached when big)
      const int64_t CH = 16384;
      const int64_t nch = (L + CH - 1) / CH, segs = R * nch;
      for (int64_t o = 0; o < K; ++o) {
        const float* base = x + kept.offset(o);
        std::vector<T> part(nthr, A::init());
#pragma omp parallel if (big)
        {
          T acc = A::init();
#pragma omp for schedule(static)
          for (int64_t u = 0; u < segs; ++u) {
            int64_t r = u / nch, c = u % nch;
            int64_t j0 = c * CH, j1 = std::min(L, j0 + CH);
            acc = A::comb(acc, A::run(base + red.offset(r) + j0, j1 - j0));
          }
          part[omp_get_thread_num()] = acc;
        }
        T acc = A::init();
        for (auto v : part) acc = A::comb(acc, v);
        y[o] = fin(acc);
      }
    }
    return;
  }
  // innermost kept: accumulate rows of length L
  const int64_t K2 = K;  // kept grid excludes the innermost group here
  if (K2 >= nthr || !big) {
    parallelFor(K2, K2 * R * L, [&](int64_t o0, int64_t o1) {
      std::vector<T> acc(L);
      for (int64_t o = o0; o < o1; ++o) {
        std::fill(acc.begin(), acc.end(), A::init());
        const float* base = x + kept.offset(o);
        for (int64_t r = 0; r < R; ++r) A::rowInto(acc.data(), base + red.offset(r), L);
        float* yo = y + o * L;
        for (int64_t j = 0; j < L; ++j) yo[j] = fin(acc[j]);
      }
    });
  } else {
    // big, few output rows: per-thread partial rows over a split of the reduced rows
    std::vector<std::vector<T>> part(nthr, std::vector<T>(K2 * L, A::init()));
#pragma omp parallel if (big)
    {
      std::vector<T>& acc = part[omp_get_thread_num()];
#pragma omp for schedule(static)
      for (int64_t r = 0; r < R; ++r) {
        const int64_t ro = red.offset(r);
        for (int64_t o = 0; o < K2; ++o) A::rowInto(acc.data() + o * L, x + kept.offset(o) + ro, L);
      }
    }
    for (int64_t i = 0; i < K2 * L; ++i) {
      T v = A::init();
      for (auto& p : part) v = A::comb(v, p[i]);
      y[i] = fin(v);
    }
  }
}

}  // namespace

/** Reduces f32 `xIn` of logical `shapeIn` over `axes`; returns a plain keepdim result. */
BufPtr reduceAxes(int kind, const BufPtr& xIn, const dims& shapeIn, const std::vector<int64_t>& axes) {
  const dims shape = normDims(shapeIn);
  auto x = plainOf(asDims(castTo(xIn, dt::f32), shape));
  const int nd = static_cast<int>(shape.size());
  std::vector<bool> isRed(nd, false);
  for (auto a : axes) {
    int64_t ax = a < 0 ? a + nd : a;
    if (ax < 0 || ax >= nd) throw std::runtime_error("reduce: axis out of range");
    isRed[ax] = true;
  }
  dims outDims = shape;
  int64_t R = 1;
  for (int i = 0; i < nd; ++i)
    if (isRed[i]) {
      R *= shape[i];
      outDims[i] = 1;
    }
  auto y = allocPlain(outDims);
  const int64_t nOut = y->numel();
  if (nOut == 0) return y;
  if (x->numel() == 0) {
    float v = kind == kSum ? 0.f
              : kind == kMean ? std::numeric_limits<float>::quiet_NaN()
              : kind == kMax ? -std::numeric_limits<float>::infinity()
                             : std::numeric_limits<float>::infinity();
    std::fill(y->f32(), y->f32() + nOut, v);
    return y;
  }
  if (R == 1) {
    std::memcpy(y->f32(), x->f32(), nOut * 4);
    return y;
  }
  // merge neighbouring dims of the same kind (size-1 dims dropped)
  std::vector<int64_t> gs, gst;
  std::vector<bool> gr;
  {
    std::vector<int64_t> st(nd);
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; --i) {
      st[i] = s;
      s *= shape[i];
    }
    for (int i = 0; i < nd; ++i) {
      if (shape[i] == 1) continue;
      if (!gs.empty() && gr.back() == isRed[i]) {
        gs.back() *= shape[i];
        gst.back() = st[i];
      } else {
        gs.push_back(shape[i]);
        gst.push_back(st[i]);
        gr.push_back(isRed[i]);
      }
    }
  }
  const int ng = static_cast<int>(gs.size());
  const bool innerRed = gr[ng - 1];
  const int64_t L = gs[ng - 1];
  Grid kept, red;
  for (int g = 0; g < ng - 1; ++g) {
    (gr[g] ? red : kept).size.push_back(gs[g]);
    (gr[g] ? red : kept).stride.push_back(gst[g]);
  }
  const double scale = 1.0 / static_cast<double>(R);
  switch (kind) {
    case kSum: reduceLoop<kSum>(x->f32(), y->f32(), kept, red, innerRed, L, scale); break;
    case kMean: reduceLoop<kMean>(x->f32(), y->f32(), kept, red, innerRed, L, scale); break;
    case kMax: reduceLoop<kMax>(x->f32(), y->f32(), kept, red, innerRed, L, scale); break;
    case kMin: reduceLoop<kMin>(x->f32(), y->f32(), kept, red, innerRed, L, scale); break;
    default: throw std::runtime_error("reduce: unknown op");
  }
  return y;
}

}  // namespace gen

using namespace gen;

namespace {

template <class T>
void argmaxLoop(const T* x, int32_t* y, int64_t outer, int64_t A, int64_t inner) {
  const int64_t work = outer * A * inner;
  if (inner == 1) {
    parallelFor(outer, work, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        const T* p = x + o * A;
        T best = p[0];
        int32_t bi = 0;
        for (int64_t a = 1; a < A; ++a) {
          T v = p[a];
          if (!(v <= best) && best == best) {  // first max wins; NaN counts as the max
            best = v;
            bi = static_cast<int32_t>(a);
          }
        }
        y[o] = bi;
      }
    });
    return;
  }
  const int64_t CH = 256;
  const int64_t nch = (inner + CH - 1) / CH;
  parallelFor(outer * nch, work, [&](int64_t u0, int64_t u1) {
  for (int64_t u = u0; u < u1; ++u) {
    const int64_t o = u / nch, j0 = (u % nch) * CH, n = std::min(inner, j0 + CH) - j0;
    T best[CH];
    int32_t bi[CH];
    const T* p0 = x + o * A * inner + j0;
    for (int64_t j = 0; j < n; ++j) {
      best[j] = p0[j];
      bi[j] = 0;
    }
    for (int64_t a = 1; a < A; ++a) {
      const T* p = p0 + a * inner;
      for (int64_t j = 0; j < n; ++j) {
        T v = p[j];
        if (!(v <= best[j]) && best[j] == best[j]) {
          best[j] = v;
          bi[j] = static_cast<int32_t>(a);
        }
      }
    }
    int32_t* yo = y + o * inner + j0;
    for (int64_t j = 0; j < n; ++j) yo[j] = bi[j];
  }
  });
}

/** A reduce op from JS: its code (ReduceKind, as general.ts sends it) or its name. */
int parseReduce(const Napi::Value& v) {
  if (v.IsNumber()) {
    const int64_t k = v.As<Napi::Number>().Int64Value();
    if (k < kSum || k > kMin) throw std::runtime_error("unknown reduce op code");
    return static_cast<int>(k);
  }
  const std::string s = v.As<Napi::String>().Utf8Value();
  for (int k = 0; k < kReduceKinds; ++k)
    if (s == kReduceNames[k]) return k;
  throw std::runtime_error("unknown reduce op '" + s + "'");
}

// reduce(op, x, shape, axes) -> handle (plain, keepdim dims; float32, or bfloat16 for a bf16 x)
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  return guarded(info, "reduce", [&]() -> Napi::Value {
    int kind = parseReduce(info[0]);
    auto x = unwrap(info[1], "reduce");
    auto y = reduceAxes(kind, x, toDims(info[2]), toInts(info[3]));
    return wrap(info.Env(), x->dataType() == dt::bf16 ? narrow(y) : y);
  });
}

// argmax(x, shape, axis) -> handle (plain int32, keepdim dims)
Napi::Value Argmax(const Napi::CallbackInfo& info) {
  return guarded(info, "argmax", [&]() -> Napi::Value {
    const dims shape = normDims(toDims(info[1]));
    const int nd = static_cast<int>(shape.size());
    int64_t axis = info[2].As<Napi::Number>().Int64Value();
    if (axis < 0) axis += nd;
    if (axis < 0 || axis >= nd) throw std::runtime_error("axis out of range");
    auto x0 = unwrap(info[0], "argmax");
    // bf16: compared as float32 (exact); int32 and float32 as they are
    auto x = plainOf(asDims(x0->dataType() == dt::bf16 ? widen(x0) : x0, shape));
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= shape[i];
    for (int i = static_cast<int>(axis) + 1; i < nd; ++i) inner *= shape[i];
    const int64_t A = shape[axis];
    dims outDims = shape;
    outDims[axis] = 1;
    // every output is written below; only an empty axis leaves zeros (argmax of nothing)
    auto y = allocPlain(outDims, dt::s32, A == 0);
    if (outer * inner == 0 || A == 0) return wrap(info.Env(), y);
    if (x->dataType() == dt::s32)
      argmaxLoop<int32_t>(x->s32(), y->s32(), outer, A, inner);
    else
      argmaxLoop<float>(x->f32(), y->s32(), outer, A, inner);
    return wrap(info.Env(), y);
  });
}

}  // namespace

void InitReduce(Napi::Env env, Napi::Object exports) {
  exports.Set("reduce", Napi::Function::New(env, Reduce));
  exports.Set("argmax", Napi::Function::New(env, Argmax));
}

}  // namespace cn
