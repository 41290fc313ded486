// Elementwise kernels: unary, binary (NumPy broadcasting), scalar, clamp, reluBackward, cast, axpy.
//
// Element types: float32 and bfloat16 compute in float32 and return the input's type (bf16 rounded
// once, to nearest even); the hand-written loops read and write bf16 directly in chunks (dtype.h).
// int32: binary/scalar add, sub, mul (wrapping), maximum, minimum and the comparisons stay int32
// (1/0 for comparisons); the other kernels read int32 inputs as float32 numbers.
// NaN follows PyTorch (see src/backend/kernels.ts): comparisons with NaN give 0, maximum/minimum,
// clamp, relu propagate NaN, sign(NaN) = 0.
//
// Execution policy
// - Hand-written loops do all the cheap maps (neg/abs/sign/square/relu/sqrt/rsqrt/reciprocal,
//   every binary and scalar op on same-shape or plain data, clamp, axpy, reluBackward). They run
//   serially up to kParallelMin elements and as OpenMP loops above it.
// - oneDNN eltwise runs exp/log/sigmoid/tanh on large tensors (its vectorised transcendentals)
//   and on zero-padded blocked layouts; small tensors use serial libm loops instead (a oneDNN call
//   costs several microseconds plus a parallel region). oneDNN's jit drops NaN in some of them
//   (exp(NaN) = +Inf, logistic(NaN) = 0 on blocked layouts), which a fix-up pass undoes.
// - oneDNN binary only runs broadcasts onto a BLOCKED full-size operand (per-channel ops on conv
//   outputs), the broadcast operand laid out like it so the jit kernels apply; never for
//   maximum/minimum/gt/ge, whose oneDNN 2.6 jit versions drop NaN.
//
// Layouts: loops over the PHYSICAL buffer are exact when the layout is dense (no padding: every
// stored float is a logical element and the maps are order-independent) or when the map sends
// zeros to zero (a zero-padded channel tail stays zero). Otherwise the kernel runs on plain data,
// or (unary) on oneDNN eltwise, which keeps the padding zero. oneDNN's jit BINARY does not re-zero
// padding (0/0 left NaN in it), so it runs on a padded layout only when op(0, 0) == 0.
//
// Also defines the helpers of general.h shared by the other general kernel files.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "dtype.h"
#include "general.h"
#include "simd.h"

namespace cn {
namespace gen {

dims normDims(const dims& d) { return d.empty() ? dims{1} : d; }

int64_t prodOf(const dims& d) {
  int64_t n = 1;
  for (auto x : d) n *= x;
  return n;
}

bool plainMd(const memory::desc& md) {
  const dnnl_memory_desc_t& c = md.data;
  if (c.format_kind != dnnl_blocked || c.offset0 != 0 || c.extra.flags != 0) return false;
  const auto& bd = c.format_desc.blocking;
  if (bd.inner_nblks != 0) return false;
  int64_t s = 1;
  for (int i = c.ndims - 1; i >= 0; --i) {
    if (c.padded_dims[i] != c.dims[i] || c.padded_offsets[i] != 0 || bd.strides[i] != s) return false;
    s *= c.dims[i];
  }
  return true;
}

BufPtr plainOf(const BufPtr& b) {
  if (plainMd(b->md)) return b;
  SerialScope serial(b->numel() <= kParallelMin);
  return toPlain(b);
}

BufPtr reorderInto(const BufPtr& b, const memory::desc& md) {
  if (b->md == md) return b;
  SerialScope serial(b->numel() <= kParallelMin);
  return reorderTo(b, md);
}

void keyMd(std::string& key, const memory::desc& md) {
  const dnnl_memory_desc_t& c = md.data;
  const int nd = c.ndims;
  int64_t head[4] = {nd, static_cast<int64_t>(c.data_type), static_cast<int64_t>(c.format_kind), c.offset0};
  key.append(reinterpret_cast<const char*>(head), sizeof(head));
  key.append(reinterpret_cast<const char*>(c.dims), nd * sizeof(c.dims[0]));
  key.append(reinterpret_cast<const char*>(c.padded_dims), nd * sizeof(c.padded_dims[0]));
  key.append(reinterpret_cast<const char*>(c.padded_offsets), nd * sizeof(c.padded_offsets[0]));
  if (c.format_kind == dnnl_blocked) {
    const auto& bd = c.format_desc.blocking;
    key.append(reinterpret_cast<const char*>(bd.strides), nd * sizeof(bd.strides[0]));
    keyPod(key, bd.inner_nblks);
    key.append(reinterpret_cast<const char*>(bd.inner_blks), bd.inner_nblks * sizeof(bd.inner_blks[0]));
    key.append(reinterpret_cast<const char*>(bd.inner_idxs), bd.inner_nblks * sizeof(bd.inner_idxs[0]));
  }
  keyPod(key, c.extra.flags);
}

BufPtr asDims(const BufPtr& b, const dims& dIn) {
  dims d = normDims(dIn);
  const auto& c = b->md.data;
  if (static_cast<size_t>(c.ndims) == d.size() && std::equal(d.begin(), d.end(), c.dims)) return b;
  if (prodOf(d) != b->numel()) {
    throw std::runtime_error("tensor has " + std::to_string(b->numel()) +
                             " elements, expected shape [" + dimsKey(d) + "]");
  }
  auto p = plainOf(b);
  auto v = std::make_shared<Buf>();
  v->data = p->data;
  v->md = plainDesc(d, p->md.data_type());
  return v;
}

bool isDense(const memory::desc& md) {
  if (md.data.format_kind != dnnl_blocked) return false;
  int64_t n = 1;
  for (int i = 0; i < md.data.ndims; ++i) {
    if (md.data.padded_dims[i] != md.data.dims[i]) return false;
    n *= md.data.dims[i];
  }
  return static_cast<int64_t>(md.get_size()) == n * static_cast<int64_t>(dtSize(md.data_type()));
}

BufPtr castTo(const BufPtr& x, dt to) { return convertType(x, to); }

/**
 * A descriptor of dims `d` with the same blocking structure as `ref` (same inner blocks, same
 * order of outer dims). Used to lay out a broadcast src1 like src0 so oneDNN's jit binary applies.
 */
memory::desc likeLayout(const memory::desc& ref, const dims& d) {
  dnnl_memory_desc_t c = ref.data;
  const int nd = c.ndims;
  if (c.format_kind != dnnl_blocked || static_cast<int>(d.size()) != nd) {
    return plainDesc(d, ref.data_type());
  }
  auto& bd = c.format_desc.blocking;
  int64_t blk[DNNL_MAX_NDIMS];
  int64_t inner = 1;
  for (int i = 0; i < nd; ++i) blk[i] = 1;
  for (int i = 0; i < bd.inner_nblks; ++i) {
    blk[bd.inner_idxs[i]] *= bd.inner_blks[i];
    inner *= bd.inner_blks[i];
  }
  std::vector<int> order(nd);
  std::iota(order.begin(), order.end(), 0);
  const auto refStrides = ref.data.format_desc.blocking.strides;
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) {
    if (refStrides[x] != refStrides[y]) return refStrides[x] < refStrides[y];
    return x > y;
  });
  for (int i = 0; i < nd; ++i) {
    c.dims[i] = d[i];
    c.padded_dims[i] = (d[i] + blk[i] - 1) / blk[i] * blk[i];
    c.padded_offsets[i] = 0;
  }
  c.offset0 = 0;
  int64_t cur = inner;
  for (int k : order) {
    bd.strides[k] = cur;
    cur *= c.padded_dims[k] / blk[k];
  }
  c.extra = dnnl_memory_extra_desc_t{};
  return memory::desc(c);
}

}  // namespace gen

using namespace gen;

namespace {

/** Number of elements physically stored (padding included). */
int64_t physCount(const BufPtr& b) { return static_cast<int64_t>(b->bytes() / dtSize(b->dataType())); }

/** True for a blocked layout with a zero-padded tail (e.g. nChw16c with C % 16 != 0). */
bool isPadded(const memory::desc& md) { return md.data.format_kind == dnnl_blocked && !isDense(md); }

/** An op code from JS: a number (the enum value) or, for callers outside general.ts, a name. */
template <class E, size_t N>
E parseOp(const Napi::Value& v, const std::pair<const char*, E> (&names)[N], const char* what) {
  if (v.IsNumber()) {
    const int64_t i = v.As<Napi::Number>().Int64Value();
    if (i < 0 || i >= static_cast<int64_t>(N)) throw std::runtime_error(std::string("unknown ") + what + " op code");
    return static_cast<E>(i);
  }
  const std::string s = v.As<Napi::String>().Utf8Value();
  for (auto& p : names)
    if (s == p.first) return p.second;
  throw std::runtime_error(std::string("unknown ") + what + " op '" + s + "'");
}

// ---- unary ops ------------------------------------------------------------------------------

// The op codes: general.ts builds its name -> code tables from `opNames()` (this list, in enum
// order), and a test checks the list equals UNARY_OPS of src/backend/kernels.ts.
enum class UOp { Neg, Exp, Log, Sqrt, Rsqrt, Abs, Sign, Square, Reciprocal, Relu, Sigmoid, Tanh, Hardswish };
const std::pair<const char*, UOp> kUnaryNames[] = {
    {"neg", UOp::Neg},       {"exp", UOp::Exp},       {"log", UOp::Log},
    {"sqrt", UOp::Sqrt},     {"rsqrt", UOp::Rsqrt},   {"abs", UOp::Abs},
    {"sign", UOp::Sign},     {"square", UOp::Square}, {"reciprocal", UOp::Reciprocal},
    {"relu", UOp::Relu},     {"sigmoid", UOp::Sigmoid}, {"tanh", UOp::Tanh},
    {"hardswish", UOp::Hardswish}};

/** op(0) == 0 (a loop over a zero-padded buffer keeps the padding zero). */
bool unaryKeepsZero(UOp op) {
  switch (op) {
    case UOp::Neg: case UOp::Sqrt: case UOp::Abs: case UOp::Sign: case UOp::Square: case UOp::Relu:
    case UOp::Tanh: case UOp::Hardswish:
      return true;
    default:
      return false;
  }
}

/** Ops the hand-written loops do at every size (vectorised, memory bound, exact NaN handling). */
bool unaryCheap(UOp op) {
  return op != UOp::Exp && op != UOp::Log && op != UOp::Sigmoid && op != UOp::Tanh;
}

/**
 * Up to this many elements exp/log/sigmoid/tanh use serial libm loops; above, oneDNN's vectorised
 * jit (run serially up to kParallelMin elements), whose call overhead (~2 us) is amortised by then.
 */
constexpr int64_t kLibmMax = 1024;

/** y[i] = f(x[i]) over one range (multiversioned: see simd.h). */
template <class F>
CN_SIMD void mapRange(const float* __restrict x, float* __restrict y, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

/** y[i] = f(x[i]) for n floats; parallel above kParallelMin. In place (x == y) is allowed. */
template <class F>
void mapLoop(const float* x, float* y, int64_t n, F f) {
  if (x == y) {
    // __restrict must not be promised for aliasing pointers
    parallelFor(n, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) y[i] = f(x[i]);
    });
    return;
  }
  parallelFor(n, [&](int64_t b, int64_t e) { mapRange(x + b, y + b, e - b, f); });
}

/** copyNaN over one range: a vectorised scan first (most tensors hold no NaN). */
CN_SIMD void copyNaNRange(const float* __restrict x, float* __restrict y, int64_t n) {
  int any = 0;
  for (int64_t i = 0; i < n; ++i) any |= (x[i] != x[i]);
  if (any)
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] != x[i] ? x[i] : y[i];
}

/** y[i] = x[i] where x[i] is NaN. */
void copyNaN(const float* x, float* y, int64_t n) {
  parallelFor(n, [&](int64_t b, int64_t e) { copyNaNRange(x + b, y + b, e - b); });
}

/**
 * y = sqrt(x) or 1 / sqrt(x), correctly rounded (vsqrtps; no rsqrt approximation). Vectorises
 * because the addon is built with -fno-math-errno (std::sqrt would otherwise have to set errno).
 */
void sqrtLoop(const float* x, float* y, int64_t n, bool recip) {
  if (recip)
    mapLoop(x, y, n, [](float v) { return 1.f / std::sqrt(v); });
  else
    mapLoop(x, y, n, [](float v) { return std::sqrt(v); });
}

/** The hand-written map of `op` over n physical floats. */
void unaryLoop(UOp op, const float* x, float* y, int64_t n) {
  switch (op) {
    case UOp::Neg: mapLoop(x, y, n, [](float v) { return -v; }); break;
    case UOp::Exp: mapLoop(x, y, n, [](float v) { return std::exp(v); }); break;
    case UOp::Log: mapLoop(x, y, n, [](float v) { return std::log(v); }); break;
    case UOp::Sqrt: sqrtLoop(x, y, n, false); break;
    case UOp::Rsqrt: sqrtLoop(x, y, n, true); break;  // 1/sqrt: rsqrt(-inf) = NaN as in PyTorch
    case UOp::Abs: mapLoop(x, y, n, [](float v) { return std::fabs(v); }); break;
    // PyTorch: sign(NaN) = 0, sign(±0) = 0
    case UOp::Sign: mapLoop(x, y, n, [](float v) { return v > 0.f ? 1.f : v < 0.f ? -1.f : 0.f; }); break;
    case UOp::Square: mapLoop(x, y, n, [](float v) { return v * v; }); break;
    case UOp::Reciprocal: mapLoop(x, y, n, [](float v) { return 1.f / v; }); break;
    // max(x, 0) keeping NaN (and -0), like torch.relu
    case UOp::Relu: mapLoop(x, y, n, [](float v) { return v < 0.f ? 0.f : v; }); break;
    case UOp::Sigmoid:
      mapLoop(x, y, n, [](float v) {
        if (v >= 0.f) return 1.f / (1.f + std::exp(-v));
        const float e = std::exp(v);  // NaN lands here and stays NaN
        return e / (1.f + e);
      });
      break;
    case UOp::Tanh: mapLoop(x, y, n, [](float v) { return std::tanh(v); }); break;
    // PyTorch's x * relu6(x + 3) / 6, in its order of float32 operations; NaN stays NaN
    case UOp::Hardswish:
      mapLoop(x, y, n, [](float v) { return v * std::min(std::max(v + 3.f, 0.f), 6.f) / 6.f; });
      break;
  }
}

// ---- binary ops -----------------------------------------------------------------------------

// The op codes, exported in this order by `opNames()` (a test compares them with BINARY_OPS).
enum class BOp { Add, Sub, Mul, Div, Pow, Max, Min, Gt, Ge, Lt, Le, Eq };
const std::pair<const char*, BOp> kBinaryNames[] = {
    {"add", BOp::Add}, {"sub", BOp::Sub},     {"mul", BOp::Mul},     {"div", BOp::Div},
    {"pow", BOp::Pow}, {"maximum", BOp::Max}, {"minimum", BOp::Min}, {"gt", BOp::Gt},
    {"ge", BOp::Ge},   {"lt", BOp::Lt},       {"le", BOp::Le},       {"eq", BOp::Eq}};

// oneDNN algorithm for a binary op, only where oneDNN 2.6 agrees with PyTorch on NaN
// (its jit maximum/minimum return the other operand and gt/ge give 1 for a NaN operand).
bool dnnlBinaryAlg(BOp op, dnnl::algorithm& alg) {
  using A = dnnl::algorithm;
  switch (op) {
    case BOp::Add: alg = A::binary_add; return true;
    case BOp::Sub: alg = A::binary_sub; return true;
    case BOp::Mul: alg = A::binary_mul; return true;
    case BOp::Div: alg = A::binary_div; return true;
    case BOp::Lt: alg = A::binary_lt; return true;
    case BOp::Le: alg = A::binary_le; return true;
    case BOp::Eq: alg = A::binary_eq; return true;
    default: return false;
  }
}

/** op(0, 0) == 0. */
bool binaryKeepsZero(BOp op) {
  switch (op) {
    case BOp::Add: case BOp::Sub: case BOp::Mul: case BOp::Max: case BOp::Min: case BOp::Gt:
    case BOp::Lt:
      return true;
    default:
      return false;
  }
}

/** The op computing `b op' a` == `a op b`; `negate` when the result must be negated (sub). */
bool swappedOp(BOp op, BOp& out, bool& negate) {
  negate = false;
  switch (op) {
    case BOp::Add: case BOp::Mul: case BOp::Max: case BOp::Min: case BOp::Eq: out = op; return true;
    case BOp::Sub: out = BOp::Sub; negate = true; return true;
    case BOp::Gt: out = BOp::Lt; return true;
    case BOp::Lt: out = BOp::Gt; return true;
    case BOp::Ge: out = BOp::Le; return true;
    case BOp::Le: out = BOp::Ge; return true;
    default: return false;
  }
}

template <class F>
void dispatchF(BOp op, F&& run) {
  switch (op) {
    case BOp::Add: run([](float x, float y) { return x + y; }); break;
    case BOp::Sub: run([](float x, float y) { return x - y; }); break;
    case BOp::Mul: run([](float x, float y) { return x * y; }); break;
    case BOp::Div: run([](float x, float y) { return x / y; }); break;
    case BOp::Pow: run([](float x, float y) { return std::pow(x, y); }); break;
    // NaN-propagating like torch.maximum/minimum (written so that it vectorises to blends)
    case BOp::Max: run([](float x, float y) { return (x < y || y != y) ? y : x; }); break;
    case BOp::Min: run([](float x, float y) { return (y < x || y != y) ? y : x; }); break;
    case BOp::Gt: run([](float x, float y) { return x > y ? 1.f : 0.f; }); break;
    case BOp::Ge: run([](float x, float y) { return x >= y ? 1.f : 0.f; }); break;
    case BOp::Lt: run([](float x, float y) { return x < y ? 1.f : 0.f; }); break;
    case BOp::Le: run([](float x, float y) { return x <= y ? 1.f : 0.f; }); break;
    case BOp::Eq: run([](float x, float y) { return x == y ? 1.f : 0.f; }); break;
  }
}

/** op(a, b) for one pair of values. */
float applyOp(BOp op, float a, float b) {
  float r = 0.f;
  dispatchF(op, [&](auto f) { r = f(a, b); });
  return r;
}

/** Merged dims and strides of a broadcast loop (see bcastLoop). */
struct BcastGeom {
  const int64_t* D;  // merged out dims
  const int64_t* A;  // a's strides per merged dim
  const int64_t* B;  // b's strides per merged dim
  int nd;
  int64_t nch, CH;   // the innermost dim is cut into nch chunks of CH
};

/** Work units [u0, u1) of bcastLoop: one chunk of the innermost run each (multiversioned). */
template <class T, class O, class F>
CN_SIMD void bcastRange(const T* a, const T* b, O* o, const BcastGeom& g, int64_t u0, int64_t u1, F f) {
  const int nd = g.nd;
  const int64_t L = g.D[nd - 1], la = g.A[nd - 1], lb = g.B[nd - 1];
  for (int64_t u = u0; u < u1; ++u) {
    int64_t oi = u / g.nch, c = u % g.nch;
    int64_t ao = 0, bo = 0, rem = oi;
    for (int i = nd - 2; i >= 0; --i) {
      int64_t k = rem % g.D[i];
      rem /= g.D[i];
      ao += k * g.A[i];
      bo += k * g.B[i];
    }
    const int64_t j0 = c * g.CH, j1 = std::min(L, j0 + g.CH);
    O* op = o + oi * L;
    if (la == 1 && lb == 1) {
      const T* pa = a + ao;
      const T* pb = b + bo;
      for (int64_t j = j0; j < j1; ++j) op[j] = f(pa[j], pb[j]);
    } else if (la == 1 && lb == 0) {
      const T* pa = a + ao;
      const T vb = b[bo];
      for (int64_t j = j0; j < j1; ++j) op[j] = f(pa[j], vb);
    } else if (la == 0 && lb == 1) {
      const T va = a[ao];
      const T* pb = b + bo;
      for (int64_t j = j0; j < j1; ++j) op[j] = f(va, pb[j]);
    } else {
      for (int64_t j = j0; j < j1; ++j) op[j] = f(a[ao + j * la], b[bo + j * lb]);
    }
  }
}

/**
 * out[i] = f(a[ia], b[ib]) over `od` (row-major out), where sa/sb are element strides of a and b
 * per out dim (0 for broadcast dims). Dims are merged where contiguous; the innermost run is
 * specialised for stride 0/1 so it vectorises. Parallel above kParallelMin output elements.
 */
template <class T, class O, class F>
void bcastLoop(const T* a, const dims& sa, const T* b, const dims& sb, O* o, const dims& od, F f) {
  // drop size-1 dims, merge contiguous neighbours
  int64_t D[DNNL_MAX_NDIMS + 1], A[DNNL_MAX_NDIMS + 1], B[DNNL_MAX_NDIMS + 1];
  int nd = 0;
  std::vector<int64_t> dv, av, bv;
  const bool fits = od.size() <= DNNL_MAX_NDIMS;
  int64_t* Dp = D;
  int64_t* Ap = A;
  int64_t* Bp = B;
  if (!fits) {
    dv.resize(od.size() + 1);
    av.resize(od.size() + 1);
    bv.resize(od.size() + 1);
    Dp = dv.data();
    Ap = av.data();
    Bp = bv.data();
  }
  for (size_t i = 0; i < od.size(); ++i) {
    if (od[i] == 1) continue;
    if (nd > 0 && Ap[nd - 1] == sa[i] * od[i] && Bp[nd - 1] == sb[i] * od[i]) {
      Dp[nd - 1] *= od[i];
      Ap[nd - 1] = sa[i];
      Bp[nd - 1] = sb[i];
    } else {
      Dp[nd] = od[i];
      Ap[nd] = sa[i];
      Bp[nd] = sb[i];
      ++nd;
    }
  }
  if (nd == 0) {
    Dp[0] = 1;
    Ap[0] = Bp[0] = 0;
    nd = 1;
  }
  const int64_t L = Dp[nd - 1];
  int64_t outer = 1;
  for (int i = 0; i < nd - 1; ++i) outer *= Dp[i];
  const int64_t CH = 8192;
  const int64_t nch = (L + CH - 1) / CH;
  const int64_t units = outer * nch;
  const int64_t total = outer * L;
  const BcastGeom g{Dp, Ap, Bp, nd, nch, CH};
  parallelFor(units, total, [&](int64_t u0, int64_t u1) { bcastRange(a, b, o, g, u0, u1, f); });
}

/** out[i] = a[i] op b[i] over one range (multiversioned). */
template <class F>
CN_SIMD void zipRange(const float* a, const float* b, float* y, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i]);
}

/** out[i] = a[i] op b[i] over n floats (a, b may be the same array). */
void sameLoop(BOp op, const float* a, const float* b, float* y, int64_t n) {
  dispatchF(op, [&](auto f) {
    parallelFor(n, [&](int64_t lo, int64_t hi) { zipRange(a + lo, b + lo, y + lo, hi - lo, f); });
  });
}

/** out = x op s (or s op x) over one range (multiversioned). */
template <class F>
CN_SIMD void scalarRange(const float* __restrict x, float s, bool reverse, float* __restrict y, int64_t n, F f) {
  if (reverse) {
    for (int64_t i = 0; i < n; ++i) y[i] = f(s, x[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = f(x[i], s);
  }
}

/** out = x op s (or s op x) over n floats. */
void scalarLoop(BOp op, const float* x, float s, bool reverse, float* y, int64_t n) {
  dispatchF(op, [&](auto f) {
    parallelFor(n, [&](int64_t lo, int64_t hi) { scalarRange(x + lo, s, reverse, y + lo, hi - lo, f); });
  });
}

/** Row-major strides of `shape` (rank r, already right-aligned) in out index space, 0 where broadcast. */
dims bstrides(const dims& shape) {
  dims s(shape.size(), 0);
  int64_t st = 1;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    s[i] = shape[i] == 1 ? 0 : st;
    st *= shape[i];
  }
  return s;
}

dims padRank(const dims& d, size_t r) {
  if (d.size() >= r) return d;
  dims out(r - d.size(), 1);
  out.insert(out.end(), d.begin(), d.end());
  return out;
}

// ---- oneDNN primitives ----------------------------------------------------------------------

BufPtr runEltwise(const BufPtr& x, dnnl::algorithm alg, float alpha, float beta) {
  const memory::desc& md = x->md;
  auto y = allocBuf(md);
  if (x->numel() == 0) return y;
  SerialScope serial(x->numel() <= kParallelMin);
  std::string key("gen.eltwise:");
  keyPod(key, alg);
  keyPod(key, alpha);
  keyPod(key, beta);
  keyMd(key, md);
  auto& prim = cached<dnnl::eltwise_forward>(key, [&]() {
    dnnl::eltwise_forward::primitive_desc pd(
        {dnnl::prop_kind::forward_inference, alg, md, alpha, beta}, engine());
    return dnnl::eltwise_forward(pd);
  });
  prim.execute(stream(), {{DNNL_ARG_SRC, x->mem()}, {DNNL_ARG_DST, y->mem()}});
  stream().wait();
  return y;
}

/** oneDNN binary: dst (in src0's layout) = src0 op src1 (src1 may broadcast); optional negation. */
BufPtr runBinary(dnnl::algorithm alg, const BufPtr& s0, const BufPtr& s1, bool negate) {
  const memory::desc& m0 = s0->md;
  const memory::desc& m1 = s1->md;
  auto y = allocBuf(m0);
  if (s0->numel() == 0) return y;
  SerialScope serial(s0->numel() <= kParallelMin);
  std::string key("gen.binary:");
  keyPod(key, alg);
  keyPod(key, negate);
  keyMd(key, m0);
  keyMd(key, m1);
  auto& prim = cached<dnnl::binary>(key, [&]() {
    dnnl::primitive_attr attr;
    if (negate) {
      dnnl::post_ops po;
      po.append_eltwise(1.f, dnnl::algorithm::eltwise_linear, -1.f, 0.f);
      attr.set_post_ops(po);
    }
    dnnl::binary::primitive_desc pd({alg, m0, m1, m0}, attr, engine());
    return dnnl::binary(pd);
  });
  prim.execute(stream(),
               {{DNNL_ARG_SRC_0, s0->mem()}, {DNNL_ARG_SRC_1, s1->mem()}, {DNNL_ARG_DST, y->mem()}});
  stream().wait();
  return y;
}

/** The layout two same-dims operands are brought to: a blocked one if either is blocked. */
memory::desc commonLayout(const BufPtr& a, const BufPtr& b) {
  if (!plainMd(a->md)) return a->md;
  if (!plainMd(b->md)) return b->md;
  return a->md;
}

/** float32 view of an input: int32 storages are converted (plain), bf16 ones widened in their layout. */
BufPtr asF32(const BufPtr& b) { return convertType(b, dt::f32); }

/** The element type two operands are computed in: int32 only when both are; float32 when either is. */
dt commonType(dt a, dt b) {
  if (a == b) return a;
  if (a == dt::f32 || b == dt::f32) return dt::f32;
  return dt::bf16;  // bf16 with int32
}

/** The element type of a float kernel's result for input type `t` (int32 inputs compute in float32). */
dt floatType(dt t) { return t == dt::bf16 ? dt::bf16 : dt::f32; }

// ---- kernels --------------------------------------------------------------------------------

/**
 * For a 4-D layout blocked once on the channel dim with a padded channel tail (nChw8c / nChw16c
 * with C % block != 0): sets the padding of `y` to zero and returns true; false for any other
 * layout.
 */
bool zeroChannelPadding(const BufPtr& y) {
  const auto& d = y->md.data;
  if (d.format_kind != dnnl_blocked || d.ndims != 4) return false;
  const auto& bk = d.format_desc.blocking;
  if (bk.inner_nblks != 1 || bk.inner_idxs[0] != 1) return false;
  for (int i = 0; i < 4; ++i)
    if (i != 1 && d.padded_dims[i] != d.dims[i]) return false;
  const int64_t N = d.dims[0], C = d.dims[1], Cp = d.padded_dims[1], H = d.dims[2], W = d.dims[3];
  const int64_t B = bk.inner_blks[0];
  if (Cp == C) return true;
  float* p = y->f32();
  const int64_t s0 = bk.strides[0], s1 = bk.strides[1], s2 = bk.strides[2], s3 = bk.strides[3];
  const int64_t cb0 = C / B, cbEnd = Cp / B;
  parallelFor(N, N * (cbEnd - cb0) * H * W * B, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t cb = cb0; cb < cbEnd; ++cb)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w) {
            float* q = p + n * s0 + cb * s1 + h * s2 + w * s3;
            for (int64_t c = std::max<int64_t>(C - cb * B, 0); c < B; ++c) q[c] = 0.f;
          }
  });
  return true;
}

BufPtr unaryF32(UOp op, const BufPtr& xIn) {
  BufPtr x = asF32(xIn);
  const int64_t n = x->numel();
  if (n == 0) return allocBuf(x->md);
  // Loops over the physical buffer: exact for dense layouts, and for zero-padded ones when
  // op(0) == 0. Other padded layouts: oneDNN eltwise (keeps the padding zero) for the
  // transcendentals, plain data for the cheap maps.
  const bool physOk = isDense(x->md) || (x->md.data.format_kind == dnnl_blocked && unaryKeepsZero(op));
  if (unaryCheap(op) || (n <= kLibmMax && physOk)) {
    if (!physOk) x = plainOf(x);
    auto y = allocBuf(x->md);
    unaryLoop(op, x->f32(), y->f32(), physCount(x));
    return y;
  }
  using A = dnnl::algorithm;
  A alg = A::eltwise_exp;
  switch (op) {
    case UOp::Exp: alg = A::eltwise_exp; break;
    case UOp::Log: alg = A::eltwise_log; break;
    case UOp::Sigmoid: alg = A::eltwise_logistic; break;
    case UOp::Tanh: alg = A::eltwise_tanh; break;
    default: throw std::runtime_error("internal error: unary op without oneDNN algorithm");
  }
  if (x->md.data.format_kind != dnnl_blocked) x = plainOf(x);
  BufPtr y;
  if (isPadded(x->md) && !unaryKeepsZero(op)) {
    // A zero-padded channel tail (a 6-channel conv output as nChw8c) and op(0) != 0: oneDNN's
    // eltwise for such layouts is a slow reference loop (measured 1.6 ms against 0.11 ms for the
    // same sigmoid on plain data). Run its jit over the physical buffer as one dense vector
    // instead, then zero the padding again.
    auto flat = std::make_shared<Buf>(Buf{x->data, plainDesc({physCount(x)})});
    auto yFlat = runEltwise(flat, alg, 0.f, 0.f);
    y = std::make_shared<Buf>(Buf{yFlat->data, x->md});
    if (!zeroChannelPadding(y)) y = runEltwise(x, alg, 0.f, 0.f);
  } else {
    y = runEltwise(x, alg, 0.f, 0.f);
  }
  // NaN in, NaN out: oneDNN's jit kernels clamp arguments with min/max, which drops NaN (exp gives
  // +Inf; logistic on blocked layouts gives 0), so NaNs are copied over afterwards
  const float* xs = x->f32();
  float* ys = y->f32();
  const int64_t np = physCount(x);
  copyNaN(xs, ys, np);
  return y;
}

/**
 * relu, neg and abs of bf16 values on their bits (exact: the results are the inputs or zero, so no
 * conversion is needed). relu(x) = 0 for x in (-0, -Inf] (bits 0x8001..0xff80); -0 and NaN stay.
 */
CN_SIMD void bitsRange(UOp op, const uint16_t* __restrict x, uint16_t* __restrict y, int64_t n) {
  if (op == UOp::Relu) {
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t h = x[i];
      y[i] = static_cast<uint16_t>(h - 0x8001u) < 0x7f80u ? uint16_t(0) : h;
    }
  } else if (op == UOp::Neg) {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] ^ 0x8000u;
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] & 0x7fffu;
  }
}

BufPtr unaryImpl(UOp op, const BufPtr& xIn) {
  if (xIn->dataType() != dt::bf16) return unaryF32(op, xIn);
  BufPtr x = xIn;
  if (x->numel() == 0) return allocBuf(x->md);
  // exp/log/sigmoid/tanh: the float32 kernel (oneDNN's jit or libm, its NaN fix-ups and padding
  // rules) on the widened data, rounded once
  if (!unaryCheap(op)) return narrow(unaryF32(op, widen(x)));
  // the cheap maps over the physical bf16 buffer under the same layout rules as float32
  const bool physOk = isDense(x->md) || (x->md.data.format_kind == dnnl_blocked && unaryKeepsZero(op));
  if (!physOk) x = plainOf(x);
  auto y = allocBuf(x->md);
  if (op == UOp::Relu || op == UOp::Neg || op == UOp::Abs) {
    const uint16_t* xs = x->bf16();
    uint16_t* ys = y->bf16();
    parallelFor(physCount(x), [&](int64_t b, int64_t e) { bitsRange(op, xs + b, ys + b, e - b); });
    return y;
  }
  bf16Map(x->bf16(), y->bf16(), physCount(x), [op](const float* a, float* b, int64_t m) { unaryLoop(op, a, b, m); });
  return y;
}

BufPtr binaryLoop(BOp op, const BufPtr& aIn, const dims& aShape, const BufPtr& bIn, const dims& bShape,
                  const dims& outShape) {
  auto a = plainOf(aIn), b = plainOf(bIn);
  auto y = allocPlain(outShape);
  const dims sa = bstrides(aShape), sb = bstrides(bShape);
  dispatchF(op, [&](auto f) { bcastLoop(a->f32(), sa, b->f32(), sb, y->f32(), outShape, f); });
  return y;
}

/** The name of a binary op (for errors). */
const char* binaryName(BOp op) {
  for (auto& p : kBinaryNames)
    if (p.second == op) return p.first;
  return "?";
}

/** Wraps an integer to int32 as two's complement (PyTorch's integer overflow). */
inline int32_t wrap32(uint64_t v) { return static_cast<int32_t>(static_cast<uint32_t>(v)); }

/**
 * Runs `run(f)` with the int32 function of `op`: add/sub/mul wrap around (two's complement, as
 * PyTorch), maximum/minimum, comparisons give 1/0. div and pow are float-only (the ops promote
 * int32 operands to float32 for them).
 */
template <class F>
void dispatchI(BOp op, F&& run) {
  switch (op) {
    case BOp::Add: run([](int32_t x, int32_t y) { return wrap32(uint64_t(uint32_t(x)) + uint32_t(y)); }); break;
    case BOp::Sub: run([](int32_t x, int32_t y) { return wrap32(uint64_t(uint32_t(x)) - uint32_t(y)); }); break;
    case BOp::Mul: run([](int32_t x, int32_t y) { return wrap32(uint64_t(uint32_t(x)) * uint32_t(y)); }); break;
    case BOp::Max: run([](int32_t x, int32_t y) { return x < y ? y : x; }); break;
    case BOp::Min: run([](int32_t x, int32_t y) { return y < x ? y : x; }); break;
    case BOp::Gt: run([](int32_t x, int32_t y) { return int32_t(x > y); }); break;
    case BOp::Ge: run([](int32_t x, int32_t y) { return int32_t(x >= y); }); break;
    case BOp::Lt: run([](int32_t x, int32_t y) { return int32_t(x < y); }); break;
    case BOp::Le: run([](int32_t x, int32_t y) { return int32_t(x <= y); }); break;
    case BOp::Eq: run([](int32_t x, int32_t y) { return int32_t(x == y); }); break;
    default:
      throw std::runtime_error(std::string("'") + binaryName(op) +
                               "' is not defined on int32 storages (cast them to float32 first)");
  }
}

/** int32 a op b with broadcasting (plain data, int32 result). */
BufPtr binaryInt(BOp op, const BufPtr& aIn, const dims& aShape, const BufPtr& bIn, const dims& bShape,
                 const dims& outShape) {
  auto y = allocPlain(outShape, dt::s32);
  dispatchI(op, [&](auto f) {
    if (prodOf(outShape) == 0) return;
    auto a = plainOf(aIn), b = plainOf(bIn);
    bcastLoop(a->s32(), bstrides(aShape), b->s32(), bstrides(bShape), y->s32(), outShape, f);
  });
  return y;
}

BufPtr binaryF32(BOp op, const BufPtr& aIn, const dims& aShape, const BufPtr& bIn, const dims& bShape,
                 const dims& outShape);

/**
 * bf16 a op b: same shapes run the float32 maps over the physical bf16 buffers in chunks (one
 * common layout, as float32); broadcasts run the float32 kernel on widened operands (which keeps a
 * blocked full-size operand's layout) and round its result once.
 */
BufPtr binaryBf16(BOp op, BufPtr a, const dims& aShape, BufPtr b, const dims& bShape, const dims& outShape) {
  if (prodOf(outShape) == 0) return allocPlain(outShape, dt::bf16);
  if (aShape != outShape || bShape != outShape) return narrow(binaryF32(op, widen(a), aShape, widen(b), bShape, outShape));
  a = asDims(a, outShape);
  b = asDims(b, outShape);
  memory::desc md = commonLayout(a, b);
  if (!plainMd(md) && !isDense(md) && !binaryKeepsZero(op)) md = plainDesc(outShape, dt::bf16);
  a = reorderInto(a, md);
  b = reorderInto(b, md);
  auto y = allocBuf(md);
  dispatchF(op, [&](auto f) {
    bf16Zip(a->bf16(), b->bf16(), y->bf16(), physCount(a),
            [f](const float* x, const float* z, float* o, int64_t m) { zipRange(x, z, o, m, f); });
  });
  return y;
}

BufPtr binaryImpl(BOp op, const BufPtr& aIn, dims aShape, const BufPtr& bIn, dims bShape, dims outShape) {
  aShape = normDims(aShape);
  bShape = normDims(bShape);
  outShape = normDims(outShape);
  const size_t r = std::max(outShape.size(), std::max(aShape.size(), bShape.size()));
  aShape = padRank(aShape, r);
  bShape = padRank(bShape, r);
  outShape = padRank(outShape, r);
  for (size_t i = 0; i < r; ++i) {
    if ((aShape[i] != 1 && aShape[i] != outShape[i]) || (bShape[i] != 1 && bShape[i] != outShape[i]))
      throw std::runtime_error("shapes [" + dimsKey(aShape) + "] and [" + dimsKey(bShape) +
                               "] do not broadcast to [" + dimsKey(outShape) + "]");
  }
  if (prodOf(aShape) != aIn->numel() || prodOf(bShape) != bIn->numel())
    throw std::runtime_error("operand sizes do not match their shapes [" + dimsKey(aShape) + "] and [" + dimsKey(bShape) + "]");
  const dt t = commonType(aIn->dataType(), bIn->dataType());
  if (t == dt::s32) return binaryInt(op, aIn, aShape, bIn, bShape, outShape);
  if (t == dt::bf16) return binaryBf16(op, convertType(aIn, t), aShape, convertType(bIn, t), bShape, outShape);
  return binaryF32(op, aIn, aShape, bIn, bShape, outShape);
}

/** float32 a op b (shapes already right-aligned to the rank of outShape and checked). */
BufPtr binaryF32(BOp op, const BufPtr& aIn, const dims& aShape, const BufPtr& bIn, const dims& bShape,
                 const dims& outShape) {
  const size_t r = outShape.size();
  BufPtr a = asF32(aIn), b = asF32(bIn);
  if (prodOf(outShape) == 0) return allocPlain(outShape);

  if (aShape == outShape && bShape == outShape) {
    // same shape: one common layout (blocked if either operand is), output in that layout
    a = asDims(a, outShape);
    b = asDims(b, outShape);
    memory::desc md = commonLayout(a, b);
    if (!plainMd(md) && !isDense(md) && !binaryKeepsZero(op)) md = plainDesc(outShape, dt::f32);
    a = reorderInto(a, md);
    b = reorderInto(b, md);
    auto y = allocBuf(md);
    sameLoop(op, a->f32(), b->f32(), y->f32(), physCount(a));
    return y;
  }

  // broadcast onto a blocked full-size operand: oneDNN binary keeps its layout
  const BufPtr* full = nullptr;
  const BufPtr* other = nullptr;
  dims otherShape;
  BOp useOp = op;
  bool negate = false;
  if (aShape == outShape) {
    full = &a;
    other = &b;
    otherShape = bShape;
  } else if (bShape == outShape && swappedOp(op, useOp, negate)) {
    full = &b;
    other = &a;
    otherShape = aShape;
  }
  dnnl::algorithm alg = dnnl::algorithm::binary_add;
  if (full != nullptr && r <= DNNL_MAX_NDIMS && dnnlBinaryAlg(useOp, alg)) {
    auto s0 = asDims(*full, outShape);
    if (!plainMd(s0->md) && s0->md.data.format_kind == dnnl_blocked &&
        (isDense(s0->md) || binaryKeepsZero(useOp))) {
      auto s1 = asDims(*other, otherShape);
      try {
        return runBinary(alg, s0, reorderInto(plainOf(s1), likeLayout(s0->md, otherShape)), negate);
      } catch (const dnnl::error&) {
        // no implementation for this layout combination: plain loops below
      }
    }
  }
  return binaryLoop(op, a, aShape, b, bShape, outShape);
}

/** out = x op s (or s op x) over n floats, with the common exponents of pow done without powf. */
void scalarApply(BOp op, const float* xs, float s, bool reverse, float* ys, int64_t n) {
  if (op == BOp::Pow && !reverse) {
    if (s == 1.f) { std::memcpy(ys, xs, n * 4); return; }
    if (s == 2.f) { mapLoop(xs, ys, n, [](float v) { return v * v; }); return; }
    if (s == 3.f) { mapLoop(xs, ys, n, [](float v) { return v * v * v; }); return; }
    if (s == 0.5f) { sqrtLoop(xs, ys, n, false); return; }
    if (s == -1.f) { mapLoop(xs, ys, n, [](float v) { return 1.f / v; }); return; }
    if (s == -0.5f) { sqrtLoop(xs, ys, n, true); return; }
    if (s == -2.f) { mapLoop(xs, ys, n, [](float v) { return 1.f / (v * v); }); return; }
    if (s == 0.f) { mapLoop(xs, ys, n, [](float) { return 1.f; }); return; }
  }
  scalarLoop(op, xs, s, reverse, ys, n);
}

/**
 * int32 x op s: s truncated toward zero (as the reference backend); add/sub/mul wrap around,
 * comparisons and maximum/minimum are exact for any s (computed in 64 bits).
 */
BufPtr scalarInt(BOp op, const BufPtr& xIn, double sD, bool reverse) {
  auto x = plainOf(xIn);
  auto y = allocPlain(x->md.dims(), dt::s32);
  const double tv = std::trunc(sD);
  const int64_t s = tv != tv ? 0 : static_cast<int64_t>(std::max(-4.0e18, std::min(4.0e18, tv)));
  const int32_t* xs = x->s32();
  int32_t* ys = y->s32();
  const int64_t n = x->numel();
  auto run = [&](auto f) {
    parallelFor(n, [&](int64_t lo, int64_t hi) {
      if (reverse)
        for (int64_t i = lo; i < hi; ++i) ys[i] = f(s, int64_t(xs[i]));
      else
        for (int64_t i = lo; i < hi; ++i) ys[i] = f(int64_t(xs[i]), s);
    });
  };
  switch (op) {
    case BOp::Add: run([](int64_t a, int64_t b) { return wrap32(uint64_t(a) + uint64_t(b)); }); break;
    case BOp::Sub: run([](int64_t a, int64_t b) { return wrap32(uint64_t(a) - uint64_t(b)); }); break;
    case BOp::Mul: run([](int64_t a, int64_t b) { return wrap32(uint64_t(a) * uint64_t(b)); }); break;
    case BOp::Max: run([](int64_t a, int64_t b) { return wrap32(uint64_t(a < b ? b : a)); }); break;
    case BOp::Min: run([](int64_t a, int64_t b) { return wrap32(uint64_t(b < a ? b : a)); }); break;
    case BOp::Gt: run([](int64_t a, int64_t b) { return int32_t(a > b); }); break;
    case BOp::Ge: run([](int64_t a, int64_t b) { return int32_t(a >= b); }); break;
    case BOp::Lt: run([](int64_t a, int64_t b) { return int32_t(a < b); }); break;
    case BOp::Le: run([](int64_t a, int64_t b) { return int32_t(a <= b); }); break;
    case BOp::Eq: run([](int64_t a, int64_t b) { return int32_t(a == b); }); break;
    default:
      throw std::runtime_error(std::string("'") + binaryName(op) +
                               "' is not defined on int32 storages (cast them to float32 first)");
  }
  return y;
}

BufPtr scalarImpl(BOp op, const BufPtr& xIn, double sD, bool reverse) {
  if (xIn->dataType() == dt::s32) return scalarInt(op, xIn, sD, reverse);
  const bool bf = xIn->dataType() == dt::bf16;
  BufPtr x = xIn;
  // PyTorch converts the scalar to the tensor's dtype first (compares/operates with float32(s),
  // or bf16(s) for a bf16 tensor)
  const float s = bf ? fromBf16(toBf16(static_cast<float>(sD))) : static_cast<float>(sD);
  // Physical loops keep the layout: exact for dense layouts, and for a zero-padded blocked layout
  // when f(0) == 0 (the padding stays zero); otherwise plain data.
  if (!isDense(x->md)) {
    const bool keep = isPadded(x->md) && (reverse ? applyOp(op, s, 0.f) : applyOp(op, 0.f, s)) == 0.f;
    if (!keep) x = plainOf(x);
  }
  auto y = allocBuf(x->md);
  const int64_t n = physCount(x);
  if (x->numel() == 0) return y;
  if (bf) {
    bf16Map(x->bf16(), y->bf16(), n, [&](const float* a, float* b, int64_t m) { scalarApply(op, a, s, reverse, b, m); });
  } else {
    scalarApply(op, x->f32(), s, reverse, y->f32(), n);
  }
  return y;
}

BufPtr clampImpl(const BufPtr& xIn, double lo, double hi) {
  const dt t = floatType(xIn->dataType());
  BufPtr x = convertType(xIn, t);
  const float l = static_cast<float>(lo), h = static_cast<float>(hi);
  // physical loop: dense layouts, or padded ones when clamp(0) == 0 (padding stays zero)
  const bool zeroFixed = l <= 0.f && h >= 0.f && x->md.data.format_kind == dnnl_blocked;
  if (!isDense(x->md) && !zeroFixed) x = plainOf(x);
  auto y = allocBuf(x->md);
  // std::max/min keep a NaN first operand: clamp(NaN) = NaN as in PyTorch
  auto f = [l, h](float v) { return std::min(std::max(v, l), h); };
  if (t == dt::bf16)
    bf16Map(x->bf16(), y->bf16(), physCount(x), [&](const float* a, float* b, int64_t m) { mapRange(a, b, m, f); });
  else
    mapLoop(x->f32(), y->f32(), physCount(x), f);
  return y;
}

CN_SIMD void reluBackwardRange(const float* __restrict ys, const float* __restrict g, float* __restrict d, int64_t n) {
  // Both loads unconditional (a multiply by the 0/1 mask would turn 0 * inf into NaN, so select):
  // `ys[i] > 0 ? g[i] : 0` loads g[i] only on one branch, which the compiler may not vectorize,
  // and a branch on the sign of activations mispredicts half the time (measured 112 ms vs 16 ms
  // for a 75 MB tensor).
  for (int64_t i = 0; i < n; ++i) {
    const float gv = g[i];
    d[i] = ys[i] > 0.f ? gv : 0.f;
  }
}

/** reluBackwardRange on bf16 bits (both loads unconditional, a select: see above). */
CN_SIMD void reluBackwardBits(const uint16_t* __restrict ys, const uint16_t* __restrict g, uint16_t* __restrict d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t gv = g[i];
    d[i] = static_cast<uint16_t>(ys[i] - 1u) < 0x7f80u ? gv : uint16_t(0);
  }
}

BufPtr reluBackwardImpl(const BufPtr& dyIn, const BufPtr& yIn) {
  // dx = dy where y > 0: over y's layout (a zero-padded tail has y = 0, so dx stays zero there),
  // in the gradient's dtype
  const dt t = floatType(dyIn->dataType());
  BufPtr y = convertType(yIn, t);
  if (y->md.data.format_kind != dnnl_blocked) y = plainOf(y);
  const memory::desc md = y->md;
  auto dy = reorderInto(asDims(convertType(dyIn, t), md.dims()), md);
  auto dx = allocBuf(md);
  if (t == dt::bf16) {
    // on the bits (exact): y > 0 for y in [0x0001, 0x7f80] (positive, +Inf; not ±0, NaN or negative)
    const uint16_t* ys = y->bf16();
    const uint16_t* g = dy->bf16();
    uint16_t* d = dx->bf16();
    parallelFor(y->numel() == 0 ? 0 : physCount(y), [&](int64_t b, int64_t e) { reluBackwardBits(ys + b, g + b, d + b, e - b); });
    return dx;
  }
  const float* __restrict ys = y->f32();
  const float* __restrict g = dy->f32();
  float* __restrict d = dx->f32();
  const int64_t n = y->numel() == 0 ? 0 : physCount(y);
  parallelFor(n, [&](int64_t b, int64_t e) { reluBackwardRange(ys + b, g + b, d + b, e - b); });
  return dx;
}

// dx = dy * y * (1 - y) (sigmoid) or dy * (1 - y * y) (tanh) from the saved output y, in one pass
// over y's layout instead of three kernels. A zero-padded tail stays zero: there y = 0 (sigmoid:
// dy * 0) and dy = 0 (tanh: 0 * 1).
CN_SIMD void activationBackwardRange(const float* __restrict ys, const float* __restrict g, float* __restrict d,
                                     int64_t n, bool tanhGrad) {
  if (tanhGrad) {
    for (int64_t i = 0; i < n; ++i) d[i] = g[i] * (1.f - ys[i] * ys[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) d[i] = g[i] * (ys[i] * (1.f - ys[i]));
  }
}

BufPtr activationBackwardImpl(const BufPtr& dyIn, const BufPtr& yIn, bool tanhGrad) {
  const dt t = floatType(dyIn->dataType());
  BufPtr y = convertType(yIn, t);
  if (y->md.data.format_kind != dnnl_blocked) y = plainOf(y);
  const memory::desc md = y->md;
  auto dy = reorderInto(asDims(convertType(dyIn, t), md.dims()), md);
  auto dx = allocBuf(md);
  if (t == dt::bf16) {
    bf16Zip(y->bf16(), dy->bf16(), dx->bf16(), y->numel() == 0 ? 0 : physCount(y),
            [tanhGrad](const float* ys, const float* g, float* d, int64_t m) { activationBackwardRange(ys, g, d, m, tanhGrad); });
    return dx;
  }
  const float* __restrict ys = y->f32();
  const float* __restrict g = dy->f32();
  float* __restrict d = dx->f32();
  const int64_t n = y->numel() == 0 ? 0 : physCount(y);
  parallelFor(n, [&](int64_t b, int64_t e) { activationBackwardRange(ys + b, g + b, d + b, e - b, tanhGrad); });
  return dx;
}

/** y = a + alpha * b (a and b may be the same array). */
CN_SIMD void axpyRange(const float* a, const float* b, float* __restrict y, int64_t n, float alpha) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + alpha * b[i];
}

BufPtr axpyImpl(const BufPtr& aIn, const BufPtr& bIn, double alphaD) {
  const dt t = floatType(commonType(aIn->dataType(), bIn->dataType()));
  auto a = convertType(aIn, t);
  auto b = asDims(convertType(bIn, t), a->md.dims());
  memory::desc md = commonLayout(a, b);
  const float alpha = static_cast<float>(alphaD);
  // a padded tail stays zero (0 + alpha * 0) unless alpha is not finite
  if (md.data.format_kind != dnnl_blocked || (!isDense(md) && !std::isfinite(alpha))) {
    md = plainDesc(a->md.dims(), t);
  }
  a = reorderInto(a, md);
  b = reorderInto(b, md);
  auto y = allocBuf(md);
  const int64_t n = physCount(y);
  if (t == dt::bf16) {
    bf16Zip(a->bf16(), b->bf16(), y->bf16(), n,
            [alpha](const float* pa, const float* pb, float* py, int64_t m) { axpyRange(pa, pb, py, m, alpha); });
    return y;
  }
  const float* pa = a->f32();
  const float* pb = b->f32();
  float* py = y->f32();
  parallelFor(n, [&](int64_t b, int64_t e) { axpyRange(pa + b, pb + b, py + b, e - b, alpha); });
  return y;
}

dt parseDType(const Napi::Value& v) {
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s == "float32") return dt::f32;
  if (s == "int32") return dt::s32;
  if (s == "bfloat16") return dt::bf16;
  throw std::runtime_error("unsupported dtype " + s);
}

// ---- N-API ----------------------------------------------------------------------------------

// unary(op, x) -> handle (x's float dtype, int32 -> float32; x's layout where kept)
Napi::Value Unary(const Napi::CallbackInfo& info) {
  return guarded(info, "unary", [&]() -> Napi::Value {
    UOp op = parseOp(info[0], kUnaryNames, "unary");
    return wrap(info.Env(), unaryImpl(op, unwrap(info[1], "unary")));
  });
}

// binary(op, a, aShape, b, bShape, outShape) -> handle (the operands' dtype)
Napi::Value Binary(const Napi::CallbackInfo& info) {
  return guarded(info, "binary", [&]() -> Napi::Value {
    BOp op = parseOp(info[0], kBinaryNames, "binary");
    return wrap(info.Env(), binaryImpl(op, unwrap(info[1], "binary"), toDims(info[2]),
                                       unwrap(info[3], "binary"), toDims(info[4]), toDims(info[5])));
  });
}

// scalar(op, x, s, reverse) -> handle (x's dtype)
Napi::Value Scalar(const Napi::CallbackInfo& info) {
  return guarded(info, "scalar", [&]() -> Napi::Value {
    BOp op = parseOp(info[0], kBinaryNames, "binary");
    return wrap(info.Env(), scalarImpl(op, unwrap(info[1], "scalar"),
                                       info[2].As<Napi::Number>().DoubleValue(),
                                       info[3].As<Napi::Boolean>().Value()));
  });
}

// clamp(x, lo, hi) -> handle (x's float dtype)
Napi::Value Clamp(const Napi::CallbackInfo& info) {
  return guarded(info, "clamp", [&]() -> Napi::Value {
    return wrap(info.Env(), clampImpl(unwrap(info[0], "clamp"), info[1].As<Napi::Number>().DoubleValue(),
                                      info[2].As<Napi::Number>().DoubleValue()));
  });
}

// activationBackward(dy, y, isTanh) -> handle (in y's layout): sigmoid or tanh gradient
Napi::Value ActivationBackward(const Napi::CallbackInfo& info) {
  return guarded(info, "activationBackward", [&]() -> Napi::Value {
    return wrap(info.Env(), activationBackwardImpl(unwrap(info[0], "activationBackward"), unwrap(info[1], "activationBackward"),
                                                   info[2].As<Napi::Boolean>().Value()));
  });
}

// reluBackward(dy, y) -> handle (in y's layout)
Napi::Value ReluBackward(const Napi::CallbackInfo& info) {
  return guarded(info, "reluBackward", [&]() -> Napi::Value {
    return wrap(info.Env(), reluBackwardImpl(unwrap(info[0], "reluBackward"), unwrap(info[1], "reluBackward")));
  });
}

// cast(x, to) -> handle: float32 <-> bfloat16 keep the layout (bf16 rounded to nearest even),
// conversions to or from int32 are plain; shares memory when the dtype already matches
Napi::Value Cast(const Napi::CallbackInfo& info) {
  return guarded(info, "cast", [&]() -> Napi::Value {
    auto x = unwrap(info[0], "cast");
    dt to = parseDType(info[1]);
    if (x->dataType() == to) {
      auto v = std::make_shared<Buf>(*x);
      return wrap(info.Env(), v);
    }
    return wrap(info.Env(), castTo(x, to));
  });
}

// axpy(a, b, alpha) -> handle (a + alpha * b in the operands' float dtype)
Napi::Value Axpy(const Napi::CallbackInfo& info) {
  return guarded(info, "axpy", [&]() -> Napi::Value {
    return wrap(info.Env(), axpyImpl(unwrap(info[0], "axpy"), unwrap(info[1], "axpy"),
                                     info[2].As<Napi::Number>().DoubleValue()));
  });
}

/** The names of `names` as a JS array indexed by their enum value (the op codes). */
template <class E, size_t N>
Napi::Array namesByCode(Napi::Env env, const std::pair<const char*, E> (&names)[N]) {
  auto a = Napi::Array::New(env, N);
  std::vector<bool> seen(N, false);
  for (auto& p : names) {
    const size_t i = static_cast<size_t>(p.second);
    if (i >= N || seen[i]) throw std::runtime_error("internal error: op name table out of enum order");
    seen[i] = true;
    a.Set(static_cast<uint32_t>(i), p.first);
  }
  return a;
}

// opNames() -> { unary, binary, reduce }: the op names in code order (the integer codes unary,
// binary, scalar and reduce accept). general.ts builds its name -> code tables from these lists.
Napi::Value OpNames(const Napi::CallbackInfo& info) {
  return guarded(info, "opNames", [&]() -> Napi::Value {
    auto env = info.Env();
    auto o = Napi::Object::New(env);
    o.Set("unary", namesByCode(env, kUnaryNames));
    o.Set("binary", namesByCode(env, kBinaryNames));
    auto r = Napi::Array::New(env, kReduceKinds);
    for (int i = 0; i < kReduceKinds; ++i) r.Set(static_cast<uint32_t>(i), kReduceNames[i]);
    o.Set("reduce", r);
    return o;
  });
}

}  // namespace

void InitElementwise(Napi::Env env, Napi::Object exports) {
  exports.Set("opNames", Napi::Function::New(env, OpNames));
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("scalar", Napi::Function::New(env, Scalar));
  exports.Set("clamp", Napi::Function::New(env, Clamp));
  exports.Set("reluBackward", Napi::Function::New(env, ReluBackward));
  exports.Set("activationBackward", Napi::Function::New(env, ActivationBackward));
  exports.Set("cast", Napi::Function::New(env, Cast));
  exports.Set("axpy", Napi::Function::New(env, Axpy));
}

}  // namespace cn
