// Linear algebra on oneDNN matmul: batched matmul (transposes expressed as strides, batch
// broadcasting via batch dims of 1), linear (weights used transposed through strides, fused bias)
// and its backward (dx = dy W, dW = dy^T x, db = column sums of dy). Inputs are made plain first.
// Products of up to kSerialMacs multiply-adds are created and run with one OpenMP thread
// (SerialScope): at bnlenet sizes a parallel region costs more than it saves.
//
// bfloat16 (all operands bf16; a bias is used as float32): oneDNN's bf16 matmul, which accumulates
// in float32 and rounds once, where oneDNN has a non-reference implementation for this CPU (AVX-512
// ones); elsewhere the float32 matmul on widened copies of the operands, rounded once.
#include "dtype.h"
#include "general.h"

namespace cn {
using namespace gen;

namespace {

dims rowMajorStrides(const dims& d) {
  dims s(d.size());
  int64_t st = 1;
  for (int i = static_cast<int>(d.size()) - 1; i >= 0; --i) {
    s[i] = st;
    st *= d[i];
  }
  return s;
}

/** Multiply-adds up to which a matmul runs on one thread. */
constexpr int64_t kSerialMacs = int64_t(1) << 21;

/** A plain copy-free view of `b` with dims `d` in element type `t`. */
BufPtr plainAs(const BufPtr& b, const dims& d, dt t) { return plainOf(asDims(castTo(b, t), d)); }

/** The element type a product of a and b computes in: bf16 when both are bf16, else float32. */
dt productType(const BufPtr& a, const BufPtr& b) {
  return a->dataType() == dt::bf16 && b->dataType() == dt::bf16 ? dt::bf16 : dt::f32;
}

dnnl::matmul::primitive_desc matmulPd(const memory::desc& srcMd, const memory::desc& wMd, const memory::desc* biasMd,
                                      const memory::desc& dstMd) {
  return biasMd ? dnnl::matmul::primitive_desc({srcMd, wMd, *biasMd, dstMd}, primAttr(), engine())
                : dnnl::matmul::primitive_desc({srcMd, wMd, dstMd}, primAttr(), engine());
}

/**
 * dst (plain, dims of dstDims, the element type of srcMd) = src x weights (+ bias) on the given
 * (possibly strided) descriptors. The bias is float32.
 */
BufPtr runMatmul(const memory::desc& srcMd, const BufPtr& src, const memory::desc& wMd, const BufPtr& w,
                 const memory::desc* biasMd, const BufPtr& bias, const dims& dstDims) {
  const dt t = srcMd.data_type();
  const memory::desc dstMd = plainDesc(dstDims, t);
  // multiply-adds = |dst| * K (K = the last src dim); the dims are part of the key
  const auto sd = srcMd.dims();
  SerialScope serial(prodOf(dstDims) * sd.back() <= kSerialMacs);
  std::string key("gen.matmul:");
  keyMd(key, srcMd);
  keyMd(key, wMd);
  keyPod(key, biasMd != nullptr);
  if (biasMd) keyMd(key, *biasMd);
  keyMd(key, dstMd);
  dnnl::matmul* primP = nullptr;
  if (t == dt::bf16) {
    auto* e = cachedOpt<dnnl::matmul>(key, [&]() -> std::unique_ptr<dnnl::matmul> {
      try {
        auto pd = matmulPd(srcMd, wMd, biasMd, dstMd);
        if (!bf16ImplFast(pd.impl_info_str())) return nullptr;
        return std::make_unique<dnnl::matmul>(pd);
      } catch (const dnnl::error&) {
        return nullptr;  // no bf16 matmul for this CPU
      }
    });
    if (e == nullptr || bf16Mode() != Bf16Mode::Auto) {
      // float32 on widened copies (exact; the strides count elements), rounded once
      const memory::desc s32 = withType(srcMd, dt::f32), w32 = withType(wMd, dt::f32);
      return narrow(runMatmul(s32, widen(src), w32, widen(w), biasMd, bias, dstDims));
    }
    primP = e;
  } else {
    primP = &cached<dnnl::matmul>(key, [&]() { return dnnl::matmul(matmulPd(srcMd, wMd, biasMd, dstMd)); });
  }
  dnnl::matmul& prim = *primP;
  auto y = allocBuf(dstMd);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(srcMd, engine(), src->data.get())},
                                       {DNNL_ARG_WEIGHTS, memory(wMd, engine(), w->data.get())},
                                       {DNNL_ARG_DST, y->mem()}};
  if (biasMd) args.insert({DNNL_ARG_BIAS, memory(*biasMd, engine(), bias->data.get())});
  execute(prim, args);
  return y;
}

BufPtr matmulImpl(const BufPtr& aIn, dims aS, const BufPtr& bIn, dims bS, bool ta, bool tb) {
  if (aS.size() < 2 || bS.size() < 2) throw std::runtime_error("matmul needs inputs of rank >= 2");
  const size_t r = std::max(aS.size(), bS.size());
  aS.insert(aS.begin(), r - aS.size(), 1);
  bS.insert(bS.begin(), r - bS.size(), 1);
  const int64_t M = ta ? aS[r - 1] : aS[r - 2], K = ta ? aS[r - 2] : aS[r - 1];
  const int64_t Kb = tb ? bS[r - 1] : bS[r - 2], N = tb ? bS[r - 2] : bS[r - 1];
  if (K != Kb) throw std::runtime_error("inner dimensions differ (" + std::to_string(K) + " vs " + std::to_string(Kb) + ")");
  dims outDims(r), aD(r), bD(r);
  for (size_t i = 0; i + 2 < r; ++i) {
    if (aS[i] != bS[i] && aS[i] != 1 && bS[i] != 1) throw std::runtime_error("batch dims do not broadcast");
    outDims[i] = std::max(aS[i], bS[i]);
    aD[i] = aS[i];
    bD[i] = bS[i];
  }
  outDims[r - 2] = M;
  outDims[r - 1] = N;
  aD[r - 2] = M;
  aD[r - 1] = K;
  bD[r - 2] = K;
  bD[r - 1] = N;
  const dt t = productType(aIn, bIn);
  if (prodOf(outDims) == 0) return allocPlain(outDims, t);
  if (K == 0) return allocPlain(outDims, t, true);
  auto a = plainAs(aIn, aS, t), b = plainAs(bIn, bS, t);
  dims as = rowMajorStrides(aS), bs = rowMajorStrides(bS);
  // logical [.., M, K] over the stored [.., M, K] or [.., K, M]
  if (ta) std::swap(as[r - 2], as[r - 1]);
  if (tb) std::swap(bs[r - 2], bs[r - 1]);
  return runMatmul(memory::desc(aD, t, as), a, memory::desc(bD, t, bs), b, nullptr, nullptr, outDims);
}

// matmul(a, aShape, b, bShape, transA, transB) -> handle [.., M, N] (plain)
Napi::Value Matmul(const Napi::CallbackInfo& info) {
  return guarded(info, "matmul", [&]() -> Napi::Value {
    return wrap(info.Env(), matmulImpl(unwrap(info[0], "matmul"), toDims(info[1]), unwrap(info[2], "matmul"),
                                       toDims(info[3]), info[4].As<Napi::Boolean>().Value(),
                                       info[5].As<Napi::Boolean>().Value()));
  });
}

// linear(x, xShape [N, I], w, wShape [O, I], b | null) -> handle [N, O] (plain)
Napi::Value Linear(const Napi::CallbackInfo& info) {
  return guarded(info, "linear", [&]() -> Napi::Value {
    const dims xS = toDims(info[1]), wS = toDims(info[3]);
    if (xS.size() != 2 || wS.size() != 2 || xS[1] != wS[1]) throw std::runtime_error("expected x [N, I] and w [O, I]");
    const int64_t N = xS[0], I = xS[1], O = wS[0];
    auto bias = unwrapOpt(info[4], "linear");
    auto x0 = unwrap(info[0], "linear");
    auto w0 = unwrap(info[2], "linear");
    const dt t = productType(x0, w0);
    if (N * O == 0) return wrap(info.Env(), allocPlain({N, O}, t));
    auto x = plainAs(x0, xS, t);
    auto w = plainAs(w0, wS, t);
    if (I == 0) {
      // y = b broadcast over rows (or zeros)
      auto y = allocPlain({N, O}, dt::f32, true);
      if (bias) {
        auto b = plainAs(bias, {O}, dt::f32);
        for (int64_t n = 0; n < N; ++n)
          for (int64_t o = 0; o < O; ++o) y->f32()[n * O + o] = b->f32()[o];
      }
      return wrap(info.Env(), castTo(y, t));
    }
    const memory::desc xMd = x->md;
    const memory::desc wT({I, O}, t, dims{1, I});  // W^T through strides
    if (bias) {
      auto b = plainAs(bias, {1, O}, dt::f32);  // a float32 bias (also for bf16 products)
      const memory::desc bMd = b->md;
      return wrap(info.Env(), runMatmul(xMd, x, wT, w, &bMd, b, {N, O}));
    }
    return wrap(info.Env(), runMatmul(xMd, x, wT, w, nullptr, nullptr, {N, O}));
  });
}

// linearBackward(dy, x, xShape, w, wShape, hasBias, needDx) -> { dx | null, dw, db | null }
Napi::Value LinearBackward(const Napi::CallbackInfo& info) {
  return guarded(info, "linearBackward", [&]() -> Napi::Value {
    const dims xS = toDims(info[2]), wS = toDims(info[4]);
    if (xS.size() != 2 || wS.size() != 2 || xS[1] != wS[1]) throw std::runtime_error("expected x [N, I] and w [O, I]");
    const int64_t N = xS[0], I = xS[1], O = wS[0];
    const bool hasBias = info[5].As<Napi::Boolean>().Value();
    const bool needDx = info[6].As<Napi::Boolean>().Value();
    auto dy0 = unwrap(info[0], "linearBackward");
    auto x0 = unwrap(info[1], "linearBackward");
    auto w0 = unwrap(info[3], "linearBackward");
    const dt t = dy0->dataType() == dt::bf16 && productType(x0, w0) == dt::bf16 ? dt::bf16 : dt::f32;
    auto dy = plainAs(dy0, {N, O}, t);
    auto x = plainAs(x0, xS, t);
    auto w = plainAs(w0, wS, t);
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    const bool empty = N * I * O == 0;
    // dx [N, I] = dy [N, O] @ W [O, I]
    if (!needDx) {
      out.Set("dx", env.Null());
    } else if (empty) {
      out.Set("dx", wrap(env, allocPlain({N, I}, t, true)));
    } else {
      out.Set("dx", wrap(env, runMatmul(dy->md, dy, w->md, w, nullptr, nullptr, {N, I})));
    }
    // dW [O, I] = dy^T [O, N] @ x [N, I]
    if (empty) {
      out.Set("dw", wrap(env, allocPlain({O, I}, t, true)));
    } else {
      const memory::desc dyT({O, N}, t, dims{1, O});
      out.Set("dw", wrap(env, runMatmul(dyT, dy, x->md, x, nullptr, nullptr, {O, I})));
    }
    if (hasBias) {
      // column sums in float32 (double accumulators), rounded once for bf16
      auto db = castTo(reduceAxes(kSum, dy, {N, O}, {0}), t);
      auto v = std::make_shared<Buf>();
      v->data = db->data;
      v->md = plainDesc({O}, t);
      out.Set("db", wrap(env, v));
    } else {
      out.Set("db", env.Null());
    }
    return out;
  });
}

}  // namespace

void InitMatmul(Napi::Env env, Napi::Object exports) {
  exports.Set("matmul", Napi::Function::New(env, Matmul));
  exports.Set("linear", Napi::Function::New(env, Linear));
  exports.Set("linearBackward", Napi::Function::New(env, LinearBackward));
}

}  // namespace cn
