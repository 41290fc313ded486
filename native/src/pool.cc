// 2-D pooling on oneDNN: max pooling (with the oneDNN workspace as backward data), average pooling
// (count_include_pad or not) and PyTorch's adaptive average pooling (oneDNN when the bins are
// uniform, a loop on plain data otherwise). Inputs are used in whatever layout they arrive in
// (blocked outputs of a conv stay blocked); outputs take the layout oneDNN chooses for that input.
//
// bfloat16: oneDNN's bf16 pooling (float32 accumulation for averages) where it has a non-reference
// implementation for this CPU (AVX-512); elsewhere the float32 primitive on a widened copy in the
// same layout, its result rounded once (max pooling is exact either way). Outputs stay bf16 in the
// input's (blocked) layout.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "dtype.h"

namespace cn {

// Defined in conv.cc.
BufPtr nnAsDims(const BufPtr& b, const dims& d);
memory::desc nnDescLike(const memory::desc& like, const dims& d, dt t);

namespace {

using dnnl::algorithm;
using dnnl::prop_kind;

struct PoolGeom {
  dims x, y;  // [N, C, H, W], [N, C, OH, OW]
  dims kernel, stride, padL, padR;
  algorithm alg = algorithm::pooling_max;

  std::string key() const {
    std::ostringstream s;
    s << static_cast<int>(alg) << '|' << dimsKey(x) << '|' << dimsKey(y) << '|' << dimsKey(kernel)
      << '|' << dimsKey(stride) << '|' << dimsKey(padL) << '|' << dimsKey(padR);
    return s.str();
  }
};

PoolGeom makeGeom(const dims& x, const dims& kernel, const dims& stride, const dims& pad,
                  const dims& out, algorithm alg) {
  if (x.size() != 4 || kernel.size() != 2 || stride.size() != 2 || pad.size() != 2 ||
      out.size() != 2)
    throw std::runtime_error("bad pooling shapes or parameters");
  PoolGeom g;
  g.x = x;
  g.y = {x[0], x[1], out[0], out[1]};
  g.kernel = kernel;
  g.stride = stride;
  g.padL = pad;
  g.padR = dims(2);
  g.alg = alg;
  for (int i = 0; i < 2; ++i) {
    if (kernel[i] < 1 || stride[i] < 1 || pad[i] < 0 || out[i] < 1 ||
        (out[i] - 1) * stride[i] >= x[2 + i] + pad[i])
      throw std::runtime_error("pooling output size does not fit the input, kernel and padding");
    // Symmetric padding gives PyTorch's floor output size (oneDNN checks with floor division);
    // otherwise pad the right side exactly as much as the requested output needs.
    if ((x[2 + i] + 2 * pad[i] - kernel[i]) / stride[i] + 1 == out[i])
      g.padR[i] = pad[i];
    else
      g.padR[i] = (out[i] - 1) * stride[i] + kernel[i] - x[2 + i] - pad[i];
  }
  return g;
}

PoolGeom readGeom(const Napi::CallbackInfo& info, int at, const dims& x, algorithm alg) {
  return makeGeom(x, toDims(info[at]), toDims(info[at + 1]), toDims(info[at + 2]),
                  toDims(info[at + 3]), alg);
}

bool hasZero(const dims& d) {
  for (auto v : d)
    if (v == 0) return true;
  return false;
}

/** The dtype of a pooling result for input `b`: bf16 stays bf16, everything else is float32. */
dt floatType(const BufPtr& b) { return b->dataType() == dt::bf16 ? dt::bf16 : dt::f32; }

struct FwdEntry {
  dnnl::pooling_forward::primitive_desc pd;
  dnnl::pooling_forward prim;
  memory::desc dst, ws;
};

struct BwdEntry {
  dnnl::pooling_backward::primitive_desc pd;
  dnnl::pooling_backward prim;
  memory::desc diffSrc, diffDst, ws;
};

dnnl::pooling_forward::primitive_desc fwdPd(const PoolGeom& g, const memory::desc& src) {
  dnnl::pooling_forward::desc d(prop_kind::forward_training, g.alg, src,
                                memory::desc(g.y, src.data_type(), tag::any), g.stride, g.kernel,
                                g.padL, g.padR);
  return dnnl::pooling_forward::primitive_desc(d, engine());
}

/** The forward primitive for input layout `src` (null for a bf16 `src` oneDNN has no fast bf16 pooling for). */
FwdEntry* fwdEntry(const PoolGeom& g, const memory::desc& src) {
  return cachedOpt<FwdEntry>("poolF|" + g.key() + '|' + mdKey(src), [&]() {
    return bf16Entry<FwdEntry>(src.data_type() == dt::bf16, [&]() {
      auto e = std::make_unique<FwdEntry>();
      e->pd = fwdPd(g, src);
      e->prim = dnnl::pooling_forward(e->pd);
      e->dst = e->pd.dst_desc();
      e->ws = e->pd.workspace_desc();
      return e;
    });
  });
}

/** Backward primitive whose diff_src has the layout `src` (the forward input's); null as fwdEntry. */
BwdEntry* bwdEntry(const PoolGeom& g, const memory::desc& src) {
  return cachedOpt<BwdEntry>("poolB|" + g.key() + '|' + mdKey(src), [&]() -> std::unique_ptr<BwdEntry> {
    FwdEntry* f = fwdEntry(g, src);
    if (f == nullptr) return nullptr;
    return bf16Entry<BwdEntry>(src.data_type() == dt::bf16, [&]() {
      dnnl::pooling_backward::desc d(g.alg, src, f->dst, g.stride, g.kernel, g.padL, g.padR);
      auto e = std::make_unique<BwdEntry>();
      e->pd = dnnl::pooling_backward::primitive_desc(d, engine(), f->pd);
      e->prim = dnnl::pooling_backward(e->pd);
      e->diffSrc = e->pd.diff_src_desc();
      e->diffDst = e->pd.diff_dst_desc();
      e->ws = e->pd.workspace_desc();
      return e;
    });
  });
}

/** True when the bf16 pooling of input layout `src` runs oneDNN's bf16 primitives (forward and backward). */
bool nativeBf16(const PoolGeom& g, const memory::desc& src) {
  return useBf16Primitive(fwdEntry(g, src)) && bwdEntry(g, src) != nullptr;
}

/** Runs the forward pooling of `x` (float32, or bf16 with nativeBf16); returns y and (for max pooling) the workspace. */
std::pair<BufPtr, BufPtr> poolForwardRaw(const PoolGeom& g, const BufPtr& x) {
  auto& e = *fwdEntry(g, x->md);
  auto y = allocBuf(e.dst);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, x->mem()}, {DNNL_ARG_DST, y->mem()}};
  BufPtr ws;
  if (e.ws.get_size() > 0) {
    ws = allocBuf(e.ws, false, BufKind::Workspace);
    args.emplace(DNNL_ARG_WORKSPACE, ws->mem());
  }
  e.prim.execute(stream(), args);
  stream().wait();
  return {y, ws};
}

/**
 * The forward pooling of `x` in its dtype: bf16 without oneDNN bf16 pooling runs the float32
 * primitive on a widened copy (same layout) and rounds y once; the workspace is then the float32
 * primitive's (the backward takes the same path).
 */
std::pair<BufPtr, BufPtr> poolForward(const PoolGeom& g, const BufPtr& x) {
  if (x->dataType() == dt::bf16 && !nativeBf16(g, x->md)) {
    auto r = poolForwardRaw(g, widen(x));
    return {narrow(r.first), r.second};
  }
  return poolForwardRaw(g, convertType(x, x->dataType() == dt::bf16 ? dt::bf16 : dt::f32));
}

/** Backward pooling; dx gets the layout of `srcMd` (the layout the forward input had). */
BufPtr poolBackwardRaw(const PoolGeom& g, const memory::desc& srcMd, const BufPtr& dy,
                       const BufPtr& ws) {
  auto& e = *bwdEntry(g, srcMd);
  auto dys = reorderTo(dy, e.diffDst);
  auto dx = allocBuf(e.diffSrc);
  std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, dys->mem()},
                                       {DNNL_ARG_DIFF_SRC, dx->mem()}};
  if (e.ws.get_size() > 0) {
    if (!ws || !(ws->md == e.ws)) throw std::runtime_error("max-pool workspace does not match");
    args.emplace(DNNL_ARG_WORKSPACE, ws->mem());
  }
  e.prim.execute(stream(), args);
  stream().wait();
  return dx;
}

/**
 * Backward pooling in the dtype of `srcMd` (dx in that layout). A bf16 srcMd without oneDNN bf16
 * pooling: the float32 primitive on widened data, dx rounded once. For max pooling `ws` must come
 * from the same path's forward (else it is recomputed from `x`).
 */
BufPtr poolBackward(const PoolGeom& g, const memory::desc& srcMd, const BufPtr& dy, BufPtr ws,
                    const BufPtr& x) {
  const bool bf = srcMd.data_type() == dt::bf16;
  if (bf && !nativeBf16(g, srcMd)) {
    const memory::desc src32 = withType(srcMd, dt::f32);
    if (g.alg == algorithm::pooling_max) {
      auto& f = *fwdEntry(g, src32);
      if (!ws || !(ws->md == f.ws)) ws = poolForwardRaw(g, reorderTo(x, src32)).second;
    }
    return narrow(poolBackwardRaw(g, src32, convertType(dy, dt::f32), ws));
  }
  if (g.alg == algorithm::pooling_max) {
    auto& f = *fwdEntry(g, srcMd);
    if (!ws || !(ws->md == f.ws)) ws = poolForwardRaw(g, reorderTo(x, srcMd)).second;  // recompute the argmax
  }
  return poolBackwardRaw(g, srcMd, convertType(dy, srcMd.data_type()), ws);
}

algorithm avgAlg(bool includePad) {
  return includePad ? algorithm::pooling_avg_include_padding
                    : algorithm::pooling_avg_exclude_padding;
}

// maxPool2d(x, xDims, kernel, stride, padding, out) -> [y, workspace]
Napi::Value MaxPool2d(const Napi::CallbackInfo& info) {
  return guarded(info, "maxPool2d", [&]() -> Napi::Value {
    auto xd = toDims(info[1]);
    auto x = nnAsDims(unwrap(info[0], "maxPool2d x"), xd);
    auto g = readGeom(info, 2, xd, algorithm::pooling_max);
    auto out = Napi::Array::New(info.Env(), 2);
    if (hasZero(g.x) || hasZero(g.y)) {
      out.Set(0u, wrap(info.Env(), allocPlain(g.y, floatType(x), true)));
      out.Set(1u, info.Env().Null());
      return out;
    }
    auto r = poolForward(g, x);
    out.Set(0u, wrap(info.Env(), r.first));
    out.Set(1u, r.second ? wrap(info.Env(), r.second) : info.Env().Null());
    return out;
  });
}

// maxPool2dBackward(dy, x, y, workspace|null, xDims, kernel, stride, padding, out) -> dx
Napi::Value MaxPool2dBackward(const Napi::CallbackInfo& info) {
  return guarded(info, "maxPool2dBackward", [&]() -> Napi::Value {
    auto xd = toDims(info[4]);
    auto g = readGeom(info, 5, xd, algorithm::pooling_max);
    auto x = nnAsDims(unwrap(info[1], "maxPool2dBackward x"), g.x);
    if (x->dataType() != dt::bf16) x = convertType(x, dt::f32);
    if (hasZero(g.x) || hasZero(g.y)) return wrap(info.Env(), allocPlain(g.x, x->dataType(), true));
    auto dy = nnAsDims(unwrap(info[0], "maxPool2dBackward dy"), g.y);
    auto ws = unwrapOpt(info[3], "maxPool2dBackward workspace");
    return wrap(info.Env(), poolBackward(g, x->md, dy, ws, x));
  });
}

// avgPool2d(x, xDims, kernel, stride, padding, countIncludePad, out) -> y
Napi::Value AvgPool2d(const Napi::CallbackInfo& info) {
  return guarded(info, "avgPool2d", [&]() -> Napi::Value {
    auto xd = toDims(info[1]);
    auto x = nnAsDims(unwrap(info[0], "avgPool2d x"), xd);
    bool inc = info[5].ToBoolean().Value();
    auto g = makeGeom(xd, toDims(info[2]), toDims(info[3]), toDims(info[4]), toDims(info[6]),
                      avgAlg(inc));
    if (hasZero(g.x) || hasZero(g.y)) return wrap(info.Env(), allocPlain(g.y, floatType(x), true));
    return wrap(info.Env(), poolForward(g, x).first);
  });
}

/** dx of average pooling in dy's float dtype: dx gets the format of dy (e.g. nChw16c stays nChw16c). */
BufPtr avgBackward(const PoolGeom& g, BufPtr dy) {
  dy = nnAsDims(dy, g.y);
  const dt t = floatType(dy);
  auto dyMd = nnDescLike(dy->md, g.y, t);
  auto srcMd = nnDescLike(dy->md, g.x, t);
  dy = reorderTo(dy, dyMd);
  return poolBackward(g, srcMd, dy, nullptr, nullptr);
}

// avgPool2dBackward(dy, xDims, kernel, stride, padding, countIncludePad, out) -> dx
Napi::Value AvgPool2dBackward(const Napi::CallbackInfo& info) {
  return guarded(info, "avgPool2dBackward", [&]() -> Napi::Value {
    auto xd = toDims(info[1]);
    bool inc = info[5].ToBoolean().Value();
    auto g = makeGeom(xd, toDims(info[2]), toDims(info[3]), toDims(info[4]), toDims(info[6]),
                      avgAlg(inc));
    auto dy = unwrap(info[0], "avgPool2dBackward dy");
    if (hasZero(g.x) || hasZero(g.y)) return wrap(info.Env(), allocPlain(g.x, floatType(dy), true));
    return wrap(info.Env(), avgBackward(g, dy));
  });
}

// ---- adaptive average pooling -------------------------------------------------------------------

inline int64_t binStart(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
inline int64_t binEnd(int64_t i, int64_t in, int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}

bool uniformBins(const dims& x, const dims& out) {
  return x[2] % out[0] == 0 && x[3] % out[1] == 0;
}

PoolGeom adaptiveGeom(const dims& x, const dims& out) {
  dims k = {x[2] / out[0], x[3] / out[1]};
  return makeGeom(x, k, k, {0, 0}, out, algorithm::pooling_avg_exclude_padding);
}

// adaptiveAvgPool2d(x, xDims, out) -> y
Napi::Value AdaptiveAvgPool2d(const Napi::CallbackInfo& info) {
  return guarded(info, "adaptiveAvgPool2d", [&]() -> Napi::Value {
    auto xd = toDims(info[1]);
    auto od = toDims(info[2]);
    if (xd.size() != 4 || od.size() != 2 || od[0] < 1 || od[1] < 1)
      fail(info.Env(), "adaptiveAvgPool2d: bad shapes");
    dims yd = {xd[0], xd[1], od[0], od[1]};
    auto x = nnAsDims(unwrap(info[0], "adaptiveAvgPool2d x"), xd);
    if (hasZero(xd)) return wrap(info.Env(), allocPlain(yd, floatType(x), true));
    if (uniformBins(xd, od)) return wrap(info.Env(), poolForward(adaptiveGeom(xd, od), x).first);
    // non-uniform bins: a float32 loop on plain data (bf16 widened, the result rounded once)
    const bool bf = x->dataType() == dt::bf16;
    auto xp = toPlain(convertType(x, dt::f32));
    auto y = allocPlain(yd);
    const int64_t H = xd[2], W = xd[3], OH = od[0], OW = od[1], planes = xd[0] * xd[1];
    const float* src = xp->f32();
    float* dst = y->f32();
#pragma omp parallel for
    for (int64_t p = 0; p < planes; ++p) {
      const float* s = src + p * H * W;
      float* d = dst + p * OH * OW;
      for (int64_t i = 0; i < OH; ++i) {
        int64_t h0 = binStart(i, H, OH), h1 = binEnd(i, H, OH);
        for (int64_t j = 0; j < OW; ++j) {
          int64_t w0 = binStart(j, W, OW), w1 = binEnd(j, W, OW);
          float acc = 0.f;
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) acc += s[h * W + w];
          d[i * OW + j] = acc / static_cast<float>((h1 - h0) * (w1 - w0));
        }
      }
    }
    return wrap(info.Env(), bf ? narrow(y) : y);
  });
}

// adaptiveAvgPool2dBackward(dy, xDims, out) -> dx
Napi::Value AdaptiveAvgPool2dBackward(const Napi::CallbackInfo& info) {
  return guarded(info, "adaptiveAvgPool2dBackward", [&]() -> Napi::Value {
    auto xd = toDims(info[1]);
    auto od = toDims(info[2]);
    if (xd.size() != 4 || od.size() != 2 || od[0] < 1 || od[1] < 1)
      fail(info.Env(), "adaptiveAvgPool2dBackward: bad shapes");
    dims yd = {xd[0], xd[1], od[0], od[1]};
    auto dy = unwrap(info[0], "adaptiveAvgPool2dBackward dy");
    if (hasZero(xd)) return wrap(info.Env(), allocPlain(xd, floatType(dy), true));
    if (uniformBins(xd, od)) return wrap(info.Env(), avgBackward(adaptiveGeom(xd, od), dy));
    const bool bf = dy->dataType() == dt::bf16;
    auto dyp = toPlain(nnAsDims(convertType(dy, dt::f32), yd));
    auto dx = allocPlain(xd, dt::f32, true);
    const int64_t H = xd[2], W = xd[3], OH = od[0], OW = od[1], planes = xd[0] * xd[1];
    const float* src = dyp->f32();
    float* dst = dx->f32();
#pragma omp parallel for
    for (int64_t p = 0; p < planes; ++p) {
      const float* s = src + p * OH * OW;
      float* d = dst + p * H * W;
      for (int64_t i = 0; i < OH; ++i) {
        int64_t h0 = binStart(i, H, OH), h1 = binEnd(i, H, OH);
        for (int64_t j = 0; j < OW; ++j) {
          int64_t w0 = binStart(j, W, OW), w1 = binEnd(j, W, OW);
          float v = s[i * OW + j] / static_cast<float>((h1 - h0) * (w1 - w0));
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) d[h * W + w] += v;
        }
      }
    }
    return wrap(info.Env(), bf ? narrow(dx) : dx);
  });
}

}  // namespace

void InitPool(Napi::Env env, Napi::Object exports) {
  exports.Set("maxPool2d", Napi::Function::New(env, MaxPool2d));
  exports.Set("maxPool2dBackward", Napi::Function::New(env, MaxPool2dBackward));
  exports.Set("avgPool2d", Napi::Function::New(env, AvgPool2d));
  exports.Set("avgPool2dBackward", Napi::Function::New(env, AvgPool2dBackward));
  exports.Set("adaptiveAvgPool2d", Napi::Function::New(env, AdaptiveAvgPool2d));
  exports.Set("adaptiveAvgPool2dBackward", Napi::Function::New(env, AdaptiveAvgPool2dBackward));
}

}  // namespace cn
