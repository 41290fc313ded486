// Bilinear resize (PyTorch's F.interpolate(mode='bilinear', align_corners=False) with an explicit
// output size) on oneDNN's linear resampling, which uses the same half-pixel mapping
// src = (dst + 0.5) * in / out - 0.5 (clamped at the borders) for up- and down-sampling.
// Works on the layout the input arrives in; the output takes the layout oneDNN picks for it.
// bfloat16 runs the float32 primitive on a widened copy (same layout) and rounds the result once
// (a rare op in bf16: not used by the CNNs of the lecture).
#include <sstream>

#include "dtype.h"

namespace cn {

// Defined in conv.cc.
BufPtr nnAsDims(const BufPtr& b, const dims& d);
memory::desc nnDescLike(const memory::desc& like, const dims& d, dt t);

namespace {

using dnnl::algorithm;
using dnnl::prop_kind;

struct FwdEntry {
  dnnl::resampling_forward::primitive_desc pd;
  dnnl::resampling_forward prim;
  memory::desc dst;
};

struct BwdEntry {
  dnnl::resampling_backward::primitive_desc pd;
  dnnl::resampling_backward prim;
  memory::desc diffSrc, diffDst;
};

dnnl::resampling_forward::primitive_desc fwdPd(const memory::desc& src, const dims& yd) {
  dnnl::resampling_forward::desc d(prop_kind::forward_training, algorithm::resampling_linear, src,
                                   memory::desc(yd, dt::f32, tag::any));
  return dnnl::resampling_forward::primitive_desc(d, engine());
}

void readDims(const Napi::CallbackInfo& info, const char* op, dims& xd, dims& yd) {
  xd = toDims(info[1]);
  auto od = toDims(info[2]);
  if (xd.size() != 4 || od.size() != 2 || od[0] < 1 || od[1] < 1)
    fail(info.Env(), std::string(op) + ": bad shapes");
  yd = {xd[0], xd[1], od[0], od[1]};
}

bool hasZero(const dims& d) {
  for (auto v : d)
    if (v == 0) return true;
  return false;
}

// resizeBilinear(x, xDims, out) -> y
Napi::Value ResizeBilinear(const Napi::CallbackInfo& info) {
  return guarded(info, "resizeBilinear", [&]() -> Napi::Value {
    dims xd, yd;
    readDims(info, "resizeBilinear", xd, yd);
    auto x0 = unwrap(info[0], "resizeBilinear x");
    const bool bf = x0->dataType() == dt::bf16;
    if (hasZero(xd)) return wrap(info.Env(), allocPlain(yd, bf ? dt::bf16 : dt::f32, true));
    auto x = nnAsDims(convertType(x0, dt::f32), xd);
    auto& e = cached<FwdEntry>("rsF|" + mdKey(x->md) + '|' + dimsKey(yd), [&]() {
      FwdEntry e;
      e.pd = fwdPd(x->md, yd);
      e.prim = dnnl::resampling_forward(e.pd);
      e.dst = e.pd.dst_desc();
      return e;
    });
    auto y = allocBuf(e.dst);
    e.prim.execute(stream(), {{DNNL_ARG_SRC, x->mem()}, {DNNL_ARG_DST, y->mem()}});
    stream().wait();
    return wrap(info.Env(), bf ? narrow(y) : y);
  });
}

// resizeBilinearBackward(dy, xDims, out) -> dx
Napi::Value ResizeBilinearBackward(const Napi::CallbackInfo& info) {
  return guarded(info, "resizeBilinearBackward", [&]() -> Napi::Value {
    dims xd, yd;
    readDims(info, "resizeBilinearBackward", xd, yd);
    auto dy0 = unwrap(info[0], "resizeBilinearBackward dy");
    const bool bf = dy0->dataType() == dt::bf16;
    if (hasZero(xd)) return wrap(info.Env(), allocPlain(xd, bf ? dt::bf16 : dt::f32, true));
    auto dy = nnAsDims(convertType(dy0, dt::f32), yd);
    auto dyMd = nnDescLike(dy->md, yd, dt::f32);
    auto srcMd = nnDescLike(dy->md, xd, dt::f32);
    dy = reorderTo(dy, dyMd);
    auto& e = cached<BwdEntry>("rsB|" + mdKey(dyMd) + '|' + dimsKey(xd), [&]() {
      auto hint = fwdPd(srcMd, yd);
      dnnl::resampling_backward::desc d(algorithm::resampling_linear, srcMd, dyMd);
      BwdEntry e;
      e.pd = dnnl::resampling_backward::primitive_desc(d, engine(), hint);
      e.prim = dnnl::resampling_backward(e.pd);
      e.diffSrc = e.pd.diff_src_desc();
      e.diffDst = e.pd.diff_dst_desc();
      return e;
    });
    auto dys = reorderTo(dy, e.diffDst);
    auto dx = allocBuf(e.diffSrc);
    e.prim.execute(stream(), {{DNNL_ARG_DIFF_DST, dys->mem()}, {DNNL_ARG_DIFF_SRC, dx->mem()}});
    stream().wait();
    return wrap(info.Env(), bf ? narrow(dx) : dx);
  });
}

}  // namespace

void InitResize(Napi::Env env, Napi::Object exports) {
  exports.Set("resizeBilinear", Napi::Function::New(env, ResizeBilinear));
  exports.Set("resizeBilinearBackward", Napi::Function::New(env, ResizeBilinearBackward));
}

}  // namespace cn
