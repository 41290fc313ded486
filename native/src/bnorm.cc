// Batch normalization on oneDNN (training forward with batch statistics, inference with given
// statistics, backward). Works directly on the layout the input arrives in (a blocked conv output
// stays blocked: y and dx take x's layout). Per-channel vectors (gamma, beta, mean, var and their
// gradients) are plain [C] float32 (also for a bfloat16 x: statistics in float32, as kernels.ts).
//
// bfloat16 x (and dy): oneDNN's bf16 batch normalization (float32 statistics) where it has a
// non-reference implementation for this CPU (AVX-512); elsewhere the float32 primitive on widened
// copies in the same layout, y / dx rounded once. y and dx stay bf16 in x's (blocked) layout.
#include <sstream>

#include "dtype.h"

namespace cn {

// Defined in conv.cc.
BufPtr nnAsDims(const BufPtr& b, const dims& d);

namespace {

using dnnl::normalization_flags;
using dnnl::prop_kind;

struct FwdEntry {
  dnnl::batch_normalization_forward::primitive_desc pd;
  dnnl::batch_normalization_forward prim;
};

struct BwdEntry {
  dnnl::batch_normalization_backward::primitive_desc pd;
  dnnl::batch_normalization_backward prim;
};

const normalization_flags kScaleShift = normalization_flags::use_scale | normalization_flags::use_shift;

std::string epsKey(float eps) {
  std::ostringstream s;
  s.precision(9);
  s << eps;
  return s.str();
}

/** The forward primitive for layout `md` (null for a bf16 md oneDNN has no fast bf16 batch norm for). */
FwdEntry* fwdEntry(const memory::desc& md, float eps, bool training) {
  std::string key = std::string(training ? "bnT|" : "bnI|") + mdKey(md) + '|' + epsKey(eps);
  return cachedOpt<FwdEntry>(key, [&]() {
    return bf16Entry<FwdEntry>(md.data_type() == dt::bf16, [&]() {
      auto flags = training ? kScaleShift : (kScaleShift | normalization_flags::use_global_stats);
      dnnl::batch_normalization_forward::desc d(
          training ? prop_kind::forward_training : prop_kind::forward_inference, md, eps, flags);
      auto e = std::make_unique<FwdEntry>();
      e->pd = dnnl::batch_normalization_forward::primitive_desc(d, engine());
      e->prim = dnnl::batch_normalization_forward(e->pd);
      return e;
    });
  });
}

/** The backward primitive for layout `md` (null as fwdEntry). */
BwdEntry* bwdEntry(const memory::desc& md, float eps) {
  return cachedOpt<BwdEntry>("bnB|" + mdKey(md) + '|' + epsKey(eps), [&]() -> std::unique_ptr<BwdEntry> {
    FwdEntry* f = fwdEntry(md, eps, true);
    if (f == nullptr) return nullptr;
    return bf16Entry<BwdEntry>(md.data_type() == dt::bf16, [&]() {
      dnnl::batch_normalization_backward::desc d(prop_kind::backward, md, md, eps, kScaleShift);
      auto e = std::make_unique<BwdEntry>();
      e->pd = dnnl::batch_normalization_backward::primitive_desc(d, engine(), f->pd);
      e->prim = dnnl::batch_normalization_backward(e->pd);
      return e;
    });
  });
}

/**
 * `x` as the primitives take it: float32 / int32 as float32; bf16 as is when oneDNN's bf16
 * primitive runs (`entry`), else widened to float32 in its layout.
 */
BufPtr computeInput(const BufPtr& x, const void* entry) {
  if (x->dataType() == dt::bf16 && useBf16Primitive(entry)) return x;
  return convertType(x, dt::f32);
}

/** A per-channel vector as plain float32 [C]. */
BufPtr channelVec(const Napi::Value& v, const char* what, int64_t c) {
  return toPlain(nnAsDims(convertType(unwrap(v, what), dt::f32), {c}));
}

dims checkedDims(const Napi::CallbackInfo& info, const Napi::Value& v, const char* op) {
  auto d = toDims(v);
  if (d.size() < 2 || d.size() > 5) fail(info.Env(), std::string(op) + ": expected [N, C, ...]");
  return d;
}

bool hasZero(const dims& d) {
  for (auto v : d)
    if (v == 0) return true;
  return false;
}

// batchNormTrain(x, xDims, gamma, beta, eps) -> [y, mean, var]
Napi::Value BatchNormTrain(const Napi::CallbackInfo& info) {
  return guarded(info, "batchNormTrain", [&]() -> Napi::Value {
    auto xd = checkedDims(info, info[1], "batchNormTrain");
    const int64_t C = xd[1];
    auto x0 = nnAsDims(unwrap(info[0], "batchNormTrain x"), xd);
    const bool bf = x0->dataType() == dt::bf16;
    auto gamma = channelVec(info[2], "batchNormTrain gamma", C);
    auto beta = channelVec(info[3], "batchNormTrain beta", C);
    float eps = static_cast<float>(info[4].As<Napi::Number>().DoubleValue());
    auto mean = allocPlain({C}, dt::f32, true);
    auto var = allocPlain({C}, dt::f32, true);
    BufPtr y;
    if (hasZero(xd)) {
      y = allocPlain(xd, bf ? dt::bf16 : dt::f32, true);
    } else {
      auto x = computeInput(x0, bf ? fwdEntry(x0->md, eps, true) : nullptr);
      auto& e = *fwdEntry(x->md, eps, true);
      y = allocBuf(x->md);
      e.prim.execute(stream(), {{DNNL_ARG_SRC, x->mem()},
                                {DNNL_ARG_DST, y->mem()},
                                {DNNL_ARG_SCALE, gamma->mem()},
                                {DNNL_ARG_SHIFT, beta->mem()},
                                {DNNL_ARG_MEAN, mean->mem()},
                                {DNNL_ARG_VARIANCE, var->mem()}});
      stream().wait();
      if (bf) y = narrow(y);
    }
    auto out = Napi::Array::New(info.Env(), 3);
    out.Set(0u, wrap(info.Env(), y));
    out.Set(1u, wrap(info.Env(), mean));
    out.Set(2u, wrap(info.Env(), var));
    return out;
  });
}

// batchNormInference(x, xDims, gamma, beta, mean, var, eps) -> y
Napi::Value BatchNormInference(const Napi::CallbackInfo& info) {
  return guarded(info, "batchNormInference", [&]() -> Napi::Value {
    auto xd = checkedDims(info, info[1], "batchNormInference");
    const int64_t C = xd[1];
    auto x0 = nnAsDims(unwrap(info[0], "batchNormInference x"), xd);
    const bool bf = x0->dataType() == dt::bf16;
    if (hasZero(xd)) return wrap(info.Env(), allocPlain(xd, bf ? dt::bf16 : dt::f32, true));
    auto gamma = channelVec(info[2], "batchNormInference gamma", C);
    auto beta = channelVec(info[3], "batchNormInference beta", C);
    auto mean = channelVec(info[4], "batchNormInference mean", C);
    auto var = channelVec(info[5], "batchNormInference var", C);
    float eps = static_cast<float>(info[6].As<Napi::Number>().DoubleValue());
    auto x = computeInput(x0, bf ? fwdEntry(x0->md, eps, false) : nullptr);
    auto& e = *fwdEntry(x->md, eps, false);
    auto y = allocBuf(x->md);
    e.prim.execute(stream(), {{DNNL_ARG_SRC, x->mem()},
                              {DNNL_ARG_DST, y->mem()},
                              {DNNL_ARG_SCALE, gamma->mem()},
                              {DNNL_ARG_SHIFT, beta->mem()},
                              {DNNL_ARG_MEAN, mean->mem()},
                              {DNNL_ARG_VARIANCE, var->mem()}});
    stream().wait();
    return wrap(info.Env(), bf ? narrow(y) : y);
  });
}

// batchNormBackward(dy, x, xDims, gamma, mean, var, eps) -> [dx, dgamma, dbeta]
Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  return guarded(info, "batchNormBackward", [&]() -> Napi::Value {
    auto xd = checkedDims(info, info[2], "batchNormBackward");
    const int64_t C = xd[1];
    auto gamma = channelVec(info[3], "batchNormBackward gamma", C);
    auto mean = channelVec(info[4], "batchNormBackward mean", C);
    auto var = channelVec(info[5], "batchNormBackward var", C);
    float eps = static_cast<float>(info[6].As<Napi::Number>().DoubleValue());
    auto dgamma = allocPlain({C}, dt::f32, true);
    auto dbeta = allocPlain({C}, dt::f32, true);
    BufPtr dx;
    auto x0 = nnAsDims(unwrap(info[1], "batchNormBackward x"), xd);
    const bool bf = x0->dataType() == dt::bf16;
    if (hasZero(xd)) {
      dx = allocPlain(xd, bf ? dt::bf16 : dt::f32, true);
    } else {
      auto x = computeInput(x0, bf ? bwdEntry(x0->md, eps) : nullptr);
      auto dy = reorderTo(nnAsDims(unwrap(info[0], "batchNormBackward dy"), xd), x->md);
      auto& e = *bwdEntry(x->md, eps);
      dx = allocBuf(x->md);
      // oneDNN 2.6 wants the shift argument with use_shift even though backward never reads it.
      auto shift = allocPlain({C}, dt::f32, true);
      e.prim.execute(stream(), {{DNNL_ARG_SRC, x->mem()},
                                {DNNL_ARG_DIFF_DST, dy->mem()},
                                {DNNL_ARG_MEAN, mean->mem()},
                                {DNNL_ARG_VARIANCE, var->mem()},
                                {DNNL_ARG_SCALE, gamma->mem()},
                                {DNNL_ARG_SHIFT, shift->mem()},
                                {DNNL_ARG_DIFF_SRC, dx->mem()},
                                {DNNL_ARG_DIFF_SCALE, dgamma->mem()},
                                {DNNL_ARG_DIFF_SHIFT, dbeta->mem()}});
      stream().wait();
      if (bf) dx = narrow(dx);
    }
    auto out = Napi::Array::New(info.Env(), 3);
    out.Set(0u, wrap(info.Env(), dx));
    out.Set(1u, wrap(info.Env(), dgamma));
    out.Set(2u, wrap(info.Env(), dbeta));
    return out;
  });
}

}  // namespace

void InitBatchNorm(Napi::Env env, Napi::Object exports) {
  exports.Set("batchNormTrain", Napi::Function::New(env, BatchNormTrain));
  exports.Set("batchNormInference", Napi::Function::New(env, BatchNormInference));
  exports.Set("batchNormBackward", Napi::Function::New(env, BatchNormBackward));
}

}  // namespace cn
