// Elementwise kernels: unary, binary (NumPy broadcasting), scalar, clamp, reluBackward, cast, axpy.
//
// Layout policy (see src/backend/kernels.ts and the native backend design):
// - Layout-preserving where cheap. oneDNN eltwise primitives accept any layout and keep a
//   zero-padded channel tail (nChw16c with C % 16 != 0) zero. oneDNN's jit BINARY does not re-zero
//   padding (checked: 0/0 left NaN in it), so binary primitives run on a padded layout only when
//   op(0, 0) == 0. Hand-written loops run over the PHYSICAL buffer when the layout is dense (no
//   padding: every stored float is a logical element, and elementwise maps are order-independent)
//   or when the map sends 0 to 0 (padding stays zero); otherwise they run on plain data.
// - Broadcasting binary ops use oneDNN binary when one operand already has the output shape (the
//   other one is broadcast as src1, laid out like src0 so the jit kernels apply), else plain loops.
//
// Also defines the helpers in namespace cn::gen shared by the other general kernel files
// (reduce.cc, layout.cc, matmul.cc, softmax.cc).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <sstream>

#include "buf.h"

namespace cn {
namespace gen {

dims normDims(const dims& d) { return d.empty() ? dims{1} : d; }

int64_t prodOf(const dims& d) {
  int64_t n = 1;
  for (auto x : d) n *= x;
  return n;
}

BufPtr asDims(const BufPtr& b, const dims& dIn) {
  dims d = normDims(dIn);
  if (b->md.dims() == d) return b;
  if (prodOf(d) != b->numel()) {
    throw std::runtime_error("tensor has " + std::to_string(b->numel()) +
                             " elements, expected shape [" + dimsKey(d) + "]");
  }
  auto p = toPlain(b);
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
  return static_cast<int64_t>(md.get_size()) == n * 4;
}

std::string fkey(double v) {
  float f = static_cast<float>(v);
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return std::to_string(u);
}

BufPtr castTo(const BufPtr& xIn, dt to) {
  if (xIn->dataType() == to) return xIn;
  auto x = toPlain(xIn);
  auto y = allocBuf(plainDesc(x->md.dims(), to));
  int64_t n = x->numel();
  if (to == dt::s32) {
    const float* s = x->f32();
    int32_t* d = y->s32();
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) {
      float v = s[i];
      // truncation toward zero; NaN -> 0 and saturation keep the conversion defined
      d[i] = v != v ? 0
             : v >= 2147483647.f ? INT32_MAX
             : v <= -2147483648.f ? INT32_MIN
                                  : static_cast<int32_t>(v);
    }
  } else {
    const int32_t* s = x->s32();
    float* d = y->f32();
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) d[i] = static_cast<float>(s[i]);
  }
  return y;
}

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

// ---- op tables ------------------------------------------------------------------------------

enum class BOp { Add, Sub, Mul, Div, Pow, Max, Min, Gt, Ge, Lt, Le, Eq };

BOp parseBOp(const std::string& s) {
  static const std::pair<const char*, BOp> t[] = {
      {"add", BOp::Add}, {"sub", BOp::Sub},     {"mul", BOp::Mul},     {"div", BOp::Div},
      {"pow", BOp::Pow}, {"maximum", BOp::Max}, {"minimum", BOp::Min}, {"gt", BOp::Gt},
      {"ge", BOp::Ge},   {"lt", BOp::Lt},       {"le", BOp::Le},       {"eq", BOp::Eq}};
  for (auto& p : t)
    if (s == p.first) return p.second;
  throw std::runtime_error("unknown binary op '" + s + "'");
}

// oneDNN algorithm for a binary op (pow has none).
bool dnnlBinaryAlg(BOp op, dnnl::algorithm& alg) {
  using A = dnnl::algorithm;
  switch (op) {
    case BOp::Add: alg = A::binary_add; return true;
    case BOp::Sub: alg = A::binary_sub; return true;
    case BOp::Mul: alg = A::binary_mul; return true;
    case BOp::Div: alg = A::binary_div; return true;
    // maximum/minimum/gt/ge are left to the loops: oneDNN 2.6's jit binary gives gt/ge = 1 and
    // max/min = the other operand when an operand is NaN (PyTorch: 0 and NaN).
    case BOp::Lt: alg = A::binary_lt; return true;
    case BOp::Le: alg = A::binary_le; return true;
    case BOp::Eq: alg = A::binary_eq; return true;
    default: return false;
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

// ---- strided loops --------------------------------------------------------------------------

/**
 * out[i] = f(a[ia], b[ib]) over `od` (row-major out), where sa/sb are element strides of a and b
 * per out dim (0 for broadcast dims). Dims are merged where contiguous; the innermost run is
 * specialised for stride 0/1 so it vectorises.
 */
template <class T, class F>
void bcastLoop(const T* a, dims sa, const T* b, dims sb, T* o, dims od, F f) {
  // drop size-1 dims, merge contiguous neighbours
  std::vector<int64_t> D, A, B;
  for (size_t i = 0; i < od.size(); ++i) {
    if (od[i] == 1) continue;
    if (!D.empty() && A.back() == sa[i] * od[i] && B.back() == sb[i] * od[i]) {
      D.back() *= od[i];
      A.back() = sa[i];
      B.back() = sb[i];
    } else {
      D.push_back(od[i]);
      A.push_back(sa[i]);
      B.push_back(sb[i]);
    }
  }
  if (D.empty()) {
    D = {1};
    A = {0};
    B = {0};
  }
  const int nd = static_cast<int>(D.size());
  const int64_t L = D[nd - 1], la = A[nd - 1], lb = B[nd - 1];
  int64_t outer = 1;
  for (int i = 0; i < nd - 1; ++i) outer *= D[i];
  const int64_t CH = 8192;
  const int64_t nch = (L + CH - 1) / CH;
  const int64_t units = outer * nch;
  const int64_t total = outer * L;
#pragma omp parallel for schedule(static) if (total > 32768)
  for (int64_t u = 0; u < units; ++u) {
    int64_t oi = u / nch, c = u % nch;
    int64_t ao = 0, bo = 0, rem = oi;
    for (int i = nd - 2; i >= 0; --i) {
      int64_t k = rem % D[i];
      rem /= D[i];
      ao += k * A[i];
      bo += k * B[i];
    }
    const int64_t j0 = c * CH, j1 = std::min(L, j0 + CH);
    T* op = o + oi * L;
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

template <class F>
void dispatchF(BOp op, F&& run) {
  switch (op) {
    case BOp::Add: run([](float x, float y) { return x + y; }); break;
    case BOp::Sub: run([](float x, float y) { return x - y; }); break;
    case BOp::Mul: run([](float x, float y) { return x * y; }); break;
    case BOp::Div: run([](float x, float y) { return x / y; }); break;
    case BOp::Pow: run([](float x, float y) { return std::pow(x, y); }); break;
    // NaN-propagating like torch.maximum/minimum
    case BOp::Max: run([](float x, float y) { return x != x || y != y ? x + y : (x > y ? x : y); }); break;
    case BOp::Min: run([](float x, float y) { return x != x || y != y ? x + y : (x < y ? x : y); }); break;
    case BOp::Gt: run([](float x, float y) { return x > y ? 1.f : 0.f; }); break;
    case BOp::Ge: run([](float x, float y) { return x >= y ? 1.f : 0.f; }); break;
    case BOp::Lt: run([](float x, float y) { return x < y ? 1.f : 0.f; }); break;
    case BOp::Le: run([](float x, float y) { return x <= y ? 1.f : 0.f; }); break;
    case BOp::Eq: run([](float x, float y) { return x == y ? 1.f : 0.f; }); break;
  }
}

/** Row-major strides of `shape` (right-aligned to rank r) in out index space, 0 where broadcast. */
dims bstrides(const dims& shape, size_t r) {
  dims s(r, 0);
  int64_t st = 1;
  for (int i = static_cast<int>(shape.size()) - 1, k = static_cast<int>(r) - 1; i >= 0; --i, --k) {
    s[k] = shape[i] == 1 ? 0 : st;
    st *= shape[i];
  }
  return s;
}

dims padRank(const dims& d, size_t r) {
  dims out(r - d.size(), 1);
  out.insert(out.end(), d.begin(), d.end());
  return out;
}

/** Plain-loop binary over f32 plain a/b with broadcasting. */
BufPtr binaryLoop(BOp op, const BufPtr& aIn, const dims& aShape, const BufPtr& bIn,
                  const dims& bShape, const dims& outShape) {
  auto a = toPlain(aIn), b = toPlain(bIn);
  auto y = allocPlain(outShape);
  if (y->numel() == 0) return y;
  size_t r = outShape.size();
  dispatchF(op, [&](auto f) {
    bcastLoop<float>(a->f32(), bstrides(aShape, r), b->f32(), bstrides(bShape, r), y->f32(),
                     outShape, f);
  });
  return y;
}

/** out = x op s (or s op x) over n contiguous floats. */
void scalarLoop(BOp op, const float* x, float s, bool reverse, float* y, int64_t n) {
  dims sx{1}, ss{0}, d{n};
  dispatchF(op, [&](auto f) {
    if (reverse)
      bcastLoop<float>(&s, ss, x, sx, y, d, f);
    else
      bcastLoop<float>(x, sx, &s, ss, y, d, f);
  });
}

/** f(a, b) == 0 for the op (so zero padding stays zero when both operands' padding is zero). */
bool zeroPreserving(BOp op, float a, float b) {
  float r = 1.f;
  dims one{1}, d{1};
  dispatchF(op, [&](auto f) { bcastLoop<float>(&a, one, &b, one, &r, d, f); });
  return r == 0.f;
}

/** True for a blocked layout with a zero-padded tail (e.g. nChw16c with C % 16 != 0). */
bool isPadded(const memory::desc& md) { return md.data.format_kind == dnnl_blocked && !isDense(md); }

// ---- oneDNN primitives ----------------------------------------------------------------------

BufPtr runEltwise(const BufPtr& x, dnnl::algorithm alg, float alpha, float beta) {
  const memory::desc md = x->md;
  if (x->numel() == 0) return allocBuf(md);
  std::string key = "gen.eltwise:" + std::to_string(static_cast<int>(alg)) + ":" + fkey(alpha) +
                    ":" + fkey(beta) + ":" + mdKey(md);
  auto& prim = cached<dnnl::eltwise_forward>(key, [&]() {
    dnnl::eltwise_forward::primitive_desc pd(
        {dnnl::prop_kind::forward_inference, alg, md, alpha, beta}, engine());
    return dnnl::eltwise_forward(pd);
  });
  auto y = allocBuf(md);
  prim.execute(stream(), {{DNNL_ARG_SRC, x->mem()}, {DNNL_ARG_DST, y->mem()}});
  stream().wait();
  return y;
}

/** oneDNN binary: dst (in src0's layout) = src0 op src1 (src1 may broadcast); optional negation. */
BufPtr runBinary(dnnl::algorithm alg, const BufPtr& s0, const BufPtr& s1, bool negate) {
  const memory::desc m0 = s0->md, m1 = s1->md;
  if (s0->numel() == 0) return allocBuf(m0);
  std::string key = "gen.binary:" + std::to_string(static_cast<int>(alg)) + (negate ? "n:" : ":") +
                    mdKey(m0) + "|" + mdKey(m1);
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
  auto y = allocBuf(m0);
  prim.execute(stream(),
               {{DNNL_ARG_SRC_0, s0->mem()}, {DNNL_ARG_SRC_1, s1->mem()}, {DNNL_ARG_DST, y->mem()}});
  stream().wait();
  return y;
}

/** The layout two same-dims operands are brought to: a blocked one if either is blocked. */
memory::desc commonLayout(const BufPtr& a, const BufPtr& b) {
  if (!a->isPlain()) return a->md;
  if (!b->isPlain() && b->md.dims() == a->md.dims()) return b->md;
  return a->md;
}

// ---- kernels --------------------------------------------------------------------------------

BufPtr unaryImpl(const std::string& op, const BufPtr& xIn) {
  using A = dnnl::algorithm;
  if (xIn->dataType() == dt::s32) {
    // integer inputs: compute in f32; ops that keep integers give int32 back
    auto y = unaryImpl(op, castTo(xIn, dt::f32));
    if (op == "neg" || op == "abs" || op == "sign" || op == "square" || op == "relu") return castTo(y, dt::s32);
    return y;
  }
  if (op == "sign") {
    // sign(0) == 0, so a loop over the physical buffer keeps a zero-padded tail zero
    auto x = isDense(xIn->md) || xIn->md.data.format_kind == dnnl_blocked ? xIn : toPlain(xIn);
    auto y = allocBuf(x->md);
    const float* s = x->f32();
    float* d = y->f32();
    int64_t n = static_cast<int64_t>(x->bytes() / 4);
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) {
      float v = s[i];
      d[i] = v > 0 ? 1.f : v < 0 ? -1.f : v;  // keeps ±0 and NaN
    }
    return y;
  }
  A alg;
  float alpha = 0, beta = 0;
  if (op == "neg") { alg = A::eltwise_linear; alpha = -1; }
  else if (op == "exp") alg = A::eltwise_exp;
  else if (op == "log") alg = A::eltwise_log;
  else if (op == "sqrt") alg = A::eltwise_sqrt;
  else if (op == "rsqrt") { alg = A::eltwise_pow; alpha = 1; beta = -0.5f; }
  else if (op == "abs") alg = A::eltwise_abs;
  else if (op == "square") alg = A::eltwise_square;
  else if (op == "reciprocal") { alg = A::eltwise_pow; alpha = 1; beta = -1; }
  else if (op == "relu") alg = A::eltwise_relu;
  else if (op == "sigmoid") alg = A::eltwise_logistic;
  else if (op == "tanh") alg = A::eltwise_tanh;
  else throw std::runtime_error("unknown unary op '" + op + "'");
  auto x = xIn->md.data.format_kind == dnnl_blocked ? xIn : toPlain(xIn);
  return runEltwise(x, alg, alpha, beta);
}

bool keepsInt(BOp op) {
  return op == BOp::Add || op == BOp::Sub || op == BOp::Mul || op == BOp::Max || op == BOp::Min ||
         op == BOp::Pow;
}

BufPtr binaryImpl(BOp op, const BufPtr& aIn, dims aShape, const BufPtr& bIn, dims bShape,
                  dims outShape) {
  aShape = normDims(aShape);
  bShape = normDims(bShape);
  outShape = normDims(outShape);
  const size_t r = outShape.size();
  aShape = padRank(aShape, r);
  bShape = padRank(bShape, r);
  if (aIn->dataType() == dt::s32 || bIn->dataType() == dt::s32) {
    bool bothInt = aIn->dataType() == dt::s32 && bIn->dataType() == dt::s32;
    auto y = binaryLoop(op, castTo(aIn, dt::f32), aShape, castTo(bIn, dt::f32), bShape, outShape);
    return bothInt && keepsInt(op) ? castTo(y, dt::s32) : y;
  }
  if (prodOf(outShape) == 0) return allocPlain(outShape);
  dnnl::algorithm alg = dnnl::algorithm::binary_add;
  const bool hasAlg = dnnlBinaryAlg(op, alg);

  if (aShape == bShape) {
    // same shape: one common layout (blocked if either operand is), output in that layout
    auto a = asDims(aIn, aShape);
    auto b = asDims(bIn, bShape);
    memory::desc md = commonLayout(a, b);
    // oneDNN's jit binary does not re-zero padding, so a padded layout is only used when
    // op(0, 0) == 0 keeps it zero (not for div/pow/ge/le/eq)
    if (isPadded(md) && !zeroPreserving(op, 0.f, 0.f)) md = plainDesc(outShape, dt::f32);
    a = reorderTo(a, md);
    b = reorderTo(b, md);
    if (hasAlg) return runBinary(alg, a, b, false);
    // pow: loop over the physical buffer when dense, else on plain data
    if (!isDense(md)) {
      a = toPlain(a);
      b = toPlain(b);
    }
    auto y = allocBuf(a->md);
    int64_t n = static_cast<int64_t>(a->bytes() / 4);
    dims s1{1}, d{n};
    dispatchF(op, [&](auto f) { bcastLoop<float>(a->f32(), s1, b->f32(), s1, y->f32(), d, f); });
    return y;
  }

  // broadcasting: oneDNN binary when one side is full (it becomes src0, keeping its layout)
  if (hasAlg && r <= DNNL_MAX_NDIMS) {
    const BufPtr* full = nullptr;
    const BufPtr* other = nullptr;
    dims otherShape;
    BOp useOp = op;
    bool negate = false;
    if (aShape == outShape) {
      full = &aIn;
      other = &bIn;
      otherShape = bShape;
    } else if (bShape == outShape && swappedOp(op, useOp, negate)) {
      full = &bIn;
      other = &aIn;
      otherShape = aShape;
    }
    dnnl::algorithm useAlg = alg;
    // the swapped op may have no oneDNN algorithm (lt -> gt): then the loops do it
    if (full != nullptr && dnnlBinaryAlg(useOp, useAlg)) {
      auto s0 = asDims(*full, outShape);
      auto s1 = asDims(*other, otherShape);
      if (isPadded(s0->md) && !zeroPreserving(useOp, 0.f, 0.f)) s0 = toPlain(s0);
      if (!s0->isPlain()) {
        try {
          return runBinary(useAlg, s0, reorderTo(toPlain(s1), likeLayout(s0->md, otherShape)), negate);
        } catch (const dnnl::error&) {
          // fall through to plain
        }
      }
      return runBinary(useAlg, toPlain(s0), toPlain(s1), negate);
    }
  }
  return binaryLoop(op, aIn, aShape, bIn, bShape, outShape);
}

BufPtr scalarImpl(BOp op, const BufPtr& xIn, double sD, bool reverse) {
  if (xIn->dataType() == dt::s32) {
    auto y = scalarImpl(op, castTo(xIn, dt::f32), sD, reverse);
    bool integral = std::floor(sD) == sD && std::fabs(sD) < 2147483648.0;
    bool keep = integral && keepsInt(op) && !(op == BOp::Pow && (reverse || sD < 0));
    return keep ? castTo(y, dt::s32) : y;
  }
  const float s = static_cast<float>(sD);
  // Loops over the physical buffer keep the layout. That is exact for dense layouts, and for a
  // zero-padded blocked layout when f(0) == 0 (the padding stays zero); otherwise plain data.
  BufPtr x = xIn;
  if (!isDense(xIn->md)) {
    const bool keep = isPadded(xIn->md) && (reverse ? zeroPreserving(op, s, 0.f) : zeroPreserving(op, 0.f, s));
    if (!keep) x = toPlain(xIn);
  }
  auto y = allocBuf(x->md);
  const int64_t n = static_cast<int64_t>(x->bytes() / 4);
  if (n == 0 || x->numel() == 0) return y;
  const float* xs = x->f32();
  float* ys = y->f32();
  if (op == BOp::Pow && !reverse) {
    // common exponents without powf
    auto run = [&](auto f) {
#pragma omp parallel for if (n > 65536)
      for (int64_t i = 0; i < n; ++i) ys[i] = f(xs[i]);
    };
    if (s == 1.f) { std::memcpy(ys, xs, n * 4); return y; }
    if (s == 2.f) { run([](float v) { return v * v; }); return y; }
    if (s == 3.f) { run([](float v) { return v * v * v; }); return y; }
    if (s == 0.5f) { run([](float v) { return std::sqrt(v); }); return y; }
    if (s == -1.f) { run([](float v) { return 1.f / v; }); return y; }
    if (s == -0.5f) { run([](float v) { return 1.f / std::sqrt(v); }); return y; }
    if (s == -2.f) { run([](float v) { return 1.f / (v * v); }); return y; }
    if (s == 0.f) { run([](float) { return 1.f; }); return y; }
  }
  scalarLoop(op, xs, s, reverse, ys, n);
  return y;
}

BufPtr clampImpl(const BufPtr& xIn, double lo, double hi) {
  if (xIn->dataType() == dt::s32) {
    auto y = clampImpl(castTo(xIn, dt::f32), lo, hi);
    return castTo(y, dt::s32);
  }
  const float l = static_cast<float>(lo), h = static_cast<float>(hi);
  // physical loop: dense layouts, or padded ones when clamp(0) == 0 (padding stays zero)
  const bool zeroFixed = l <= 0.f && h >= 0.f && xIn->md.data.format_kind == dnnl_blocked;
  if (!isDense(xIn->md) && !zeroFixed) {
    if (xIn->md.data.format_kind == dnnl_blocked && std::isfinite(l) && std::isfinite(h)) {
      // padded blocked layout: oneDNN clip keeps the padding zero (it rejects infinite bounds)
      return runEltwise(xIn, dnnl::algorithm::eltwise_clip, l, h);
    }
    return clampImpl(toPlain(xIn), lo, hi);
  }
  auto y = allocBuf(xIn->md);
  const int64_t n = static_cast<int64_t>(xIn->bytes() / 4);
  const float* s = xIn->f32();
  float* d = y->f32();
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) d[i] = std::min(std::max(s[i], l), h);
  return y;
}

BufPtr reluBackwardImpl(const BufPtr& dyIn, const BufPtr& yIn) {
  auto y = yIn->md.data.format_kind == dnnl_blocked ? yIn : toPlain(yIn);
  const memory::desc md = y->md;
  auto dy = reorderTo(asDims(dyIn, md.dims()), md);
  auto dx = allocBuf(md);
  if (y->numel() == 0) return dx;
  std::string key = "gen.relubwd:" + mdKey(md);
  auto& prim = cached<dnnl::eltwise_backward>(key, [&]() {
    using A = dnnl::algorithm;
    dnnl::eltwise_forward::primitive_desc fwd(
        {dnnl::prop_kind::forward_training, A::eltwise_relu_use_dst_for_bwd, md, 0.f, 0.f}, engine());
    dnnl::eltwise_backward::primitive_desc pd({A::eltwise_relu_use_dst_for_bwd, md, md, 0.f, 0.f},
                                              engine(), fwd);
    return dnnl::eltwise_backward(pd);
  });
  prim.execute(stream(),
               {{DNNL_ARG_DST, y->mem()}, {DNNL_ARG_DIFF_DST, dy->mem()}, {DNNL_ARG_DIFF_SRC, dx->mem()}});
  stream().wait();
  return dx;
}

BufPtr axpyImpl(const BufPtr& aIn, const BufPtr& bIn, double alphaD) {
  auto a = aIn, b = bIn;
  if (a->dataType() != dt::f32 || b->dataType() != dt::f32) {
    a = castTo(a, dt::f32);
    b = castTo(b, dt::f32);
  }
  b = asDims(b, a->md.dims());
  memory::desc md = commonLayout(a, b);
  const float alpha = static_cast<float>(alphaD);
  // a padded tail stays zero (0 + alpha * 0) unless alpha is not finite
  if (md.data.format_kind != dnnl_blocked || (!isDense(md) && !std::isfinite(alpha))) {
    md = plainDesc(a->md.dims(), dt::f32);
  }
  a = reorderTo(a, md);
  b = reorderTo(b, md);
  auto y = allocBuf(md);
  const int64_t n = static_cast<int64_t>(md.get_size() / 4);
  const float* pa = a->f32();
  const float* pb = b->f32();
  float* py = y->f32();
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) py[i] = pa[i] + alpha * pb[i];
  return y;
}

dt parseDType(const Napi::Value& v) {
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s == "float32") return dt::f32;
  if (s == "int32") return dt::s32;
  throw std::runtime_error("unsupported dtype " + s);
}

// ---- N-API ----------------------------------------------------------------------------------

// unary(op, x) -> handle
Napi::Value Unary(const Napi::CallbackInfo& info) {
  return guarded(info, "unary", [&]() -> Napi::Value {
    std::string op = info[0].As<Napi::String>().Utf8Value();
    return wrap(info.Env(), unaryImpl(op, unwrap(info[1], "unary")));
  });
}

// binary(op, a, aShape, b, bShape, outShape) -> handle
Napi::Value Binary(const Napi::CallbackInfo& info) {
  return guarded(info, "binary", [&]() -> Napi::Value {
    BOp op = parseBOp(info[0].As<Napi::String>().Utf8Value());
    return wrap(info.Env(), binaryImpl(op, unwrap(info[1], "binary"), toDims(info[2]),
                                       unwrap(info[3], "binary"), toDims(info[4]), toDims(info[5])));
  });
}

// scalar(op, x, s, reverse) -> handle
Napi::Value Scalar(const Napi::CallbackInfo& info) {
  return guarded(info, "scalar", [&]() -> Napi::Value {
    BOp op = parseBOp(info[0].As<Napi::String>().Utf8Value());
    return wrap(info.Env(), scalarImpl(op, unwrap(info[1], "scalar"),
                                       info[2].As<Napi::Number>().DoubleValue(),
                                       info[3].As<Napi::Boolean>().Value()));
  });
}

// clamp(x, lo, hi) -> handle
Napi::Value Clamp(const Napi::CallbackInfo& info) {
  return guarded(info, "clamp", [&]() -> Napi::Value {
    return wrap(info.Env(), clampImpl(unwrap(info[0], "clamp"), info[1].As<Napi::Number>().DoubleValue(),
                                      info[2].As<Napi::Number>().DoubleValue()));
  });
}

// reluBackward(dy, y) -> handle (in y's layout)
Napi::Value ReluBackward(const Napi::CallbackInfo& info) {
  return guarded(info, "reluBackward", [&]() -> Napi::Value {
    return wrap(info.Env(), reluBackwardImpl(unwrap(info[0], "reluBackward"), unwrap(info[1], "reluBackward")));
  });
}

// cast(x, to) -> handle (plain; shares memory when the dtype already matches)
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

// axpy(a, b, alpha) -> handle (a + alpha * b)
Napi::Value Axpy(const Napi::CallbackInfo& info) {
  return guarded(info, "axpy", [&]() -> Napi::Value {
    return wrap(info.Env(), axpyImpl(unwrap(info[0], "axpy"), unwrap(info[1], "axpy"),
                                     info[2].As<Napi::Number>().DoubleValue()));
  });
}

}  // namespace

void InitElementwise(Napi::Env env, Napi::Object exports) {
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("scalar", Napi::Function::New(env, Scalar));
  exports.Set("clamp", Napi::Function::New(env, Clamp));
  exports.Set("reluBackward", Napi::Function::New(env, ReluBackward));
  exports.Set("cast", Napi::Function::New(env, Cast));
  exports.Set("axpy", Napi::Function::New(env, Axpy));
}

}  // namespace cn
