// softmax / logSoftmax forward and backward along any axis, on plain data.
// - Up to kParallelMin elements: serial loops (the classifier heads: [128, 10]); a oneDNN call
//   would cost more than the arithmetic.
// - Larger: oneDNN's softmax_forward / logsoftmax_forward and their backward primitives. Their
//   max-subtraction drops NaN (a row with a NaN came out finite), so forward rows whose max is not
//   finite (a NaN, or ±Inf, where x - max is NaN) are set to NaN afterwards, as in PyTorch; the
//   logSoftmax backward's exp(y) turns a NaN y into +Inf, so NaN y give NaN dx afterwards.
// Results are float32 (int32 inputs are read as numbers); bfloat16 inputs compute in float32 (the
// kernels below on widened copies) and the result is rounded once to bf16.
#include <algorithm>
#include <cmath>
#include <limits>

#include "dtype.h"
#include "general.h"

namespace cn {
using namespace gen;

namespace {

int normAxis(int64_t axis, size_t nd) {
  if (axis < 0) axis += static_cast<int64_t>(nd);
  if (axis < 0 || axis >= static_cast<int64_t>(nd)) throw std::runtime_error("axis out of range");
  return static_cast<int>(axis);
}

/** outer / len / inner sizes around `axis`. */
void splitAxis(const dims& shape, int axis, int64_t& outer, int64_t& len, int64_t& inner) {
  outer = inner = 1;
  for (int i = 0; i < axis; ++i) outer *= shape[i];
  len = shape[axis];
  for (size_t i = axis + 1; i < shape.size(); ++i) inner *= shape[i];
}

/** NaN-propagating max (as torch.max). */
inline float nanMax(float m, float v) { return (m < v || v != v) ? v : m; }

/** Serial softmax / logSoftmax over rows of `len` elements spaced `inner` apart. */
void softmaxLoop(const float* x, float* y, int64_t outer, int64_t len, int64_t inner, bool log) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < inner; ++j) {
      const float* xr = x + o * len * inner + j;
      float* yr = y + o * len * inner + j;
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t i = 0; i < len; ++i) mx = nanMax(mx, xr[i * inner]);
      // an all -Inf row, or one with a NaN or +Inf, gives NaN (x - max is NaN), as in PyTorch
      double s = 0;
      for (int64_t i = 0; i < len; ++i) s += std::exp(static_cast<double>(xr[i * inner]) - mx);
      if (log) {
        const double lse = std::log(s);
        for (int64_t i = 0; i < len; ++i) yr[i * inner] = static_cast<float>(static_cast<double>(xr[i * inner]) - mx - lse);
      } else {
        const double inv = 1.0 / s;
        for (int64_t i = 0; i < len; ++i)
          yr[i * inner] = static_cast<float>(std::exp(static_cast<double>(xr[i * inner]) - mx) * inv);
      }
    }
  }
}

/** Serial softmax backward: dx = y (dy - sum(dy y)); logSoftmax: dx = dy - exp(y) sum(dy). */
void softmaxBackwardLoop(const float* dy, const float* y, float* dx, int64_t outer, int64_t len, int64_t inner,
                         bool log) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < inner; ++j) {
      const int64_t base = o * len * inner + j;
      double s = 0;
      if (log) {
        for (int64_t i = 0; i < len; ++i) s += dy[base + i * inner];
        for (int64_t i = 0; i < len; ++i) {
          const int64_t k = base + i * inner;
          dx[k] = static_cast<float>(dy[k] - std::exp(static_cast<double>(y[k])) * s);
        }
      } else {
        for (int64_t i = 0; i < len; ++i) s += static_cast<double>(dy[base + i * inner]) * y[base + i * inner];
        for (int64_t i = 0; i < len; ++i) {
          const int64_t k = base + i * inner;
          dx[k] = static_cast<float>(y[k] * (dy[k] - s));
        }
      }
    }
  }
}

/** Sets to NaN every row of y whose row of x has a non-finite max (NaN propagation, see top). */
void nanRows(const float* x, float* y, int64_t outer, int64_t len, int64_t inner) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  parallelFor(outer, outer * len * inner, [&](int64_t o0, int64_t o1) {
  std::vector<float> mx(inner);
  for (int64_t o = o0; o < o1; ++o) {
    std::fill(mx.begin(), mx.end(), -std::numeric_limits<float>::infinity());
    const float* xo = x + o * len * inner;
    for (int64_t i = 0; i < len; ++i)
      for (int64_t j = 0; j < inner; ++j) mx[j] = nanMax(mx[j], xo[i * inner + j]);
    bool any = false;
    for (int64_t j = 0; j < inner; ++j) any |= !std::isfinite(mx[j]);
    if (!any) continue;
    float* yo = y + o * len * inner;
    for (int64_t i = 0; i < len; ++i)
      for (int64_t j = 0; j < inner; ++j)
        if (!std::isfinite(mx[j])) yo[i * inner + j] = nan;
  }
  });
}

struct SoftmaxFwd {
  dnnl::primitive prim;
};
struct SoftmaxBwd {
  dnnl::primitive prim;
};

// softmax(x, shape, axis, log) -> handle (plain)
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  return guarded(info, "softmax", [&]() -> Napi::Value {
    const dims shape = normDims(toDims(info[1]));
    const int axis = normAxis(info[2].As<Napi::Number>().Int64Value(), shape.size());
    const bool log = info[3].As<Napi::Boolean>().Value();
    auto x0 = unwrap(info[0], "softmax");
    const bool bf = x0->dataType() == dt::bf16;
    auto out = [&](const BufPtr& r) { return wrap(info.Env(), bf ? narrow(r) : r); };
    auto x = plainOf(asDims(castTo(x0, dt::f32), shape));
    auto y = allocPlain(shape);
    const int64_t n = y->numel();
    if (n == 0) return out(y);
    int64_t outer, len, inner;
    splitAxis(shape, axis, outer, len, inner);
    if (n <= kParallelMin) {
      softmaxLoop(x->f32(), y->f32(), outer, len, inner, log);
      return out(y);
    }
    const memory::desc& md = x->md;
    std::string key(log ? "gen.logsoftmax:" : "gen.softmax:");
    keyPod(key, axis);
    keyMd(key, md);
    auto& p = cached<SoftmaxFwd>(key, [&]() {
      const auto pk = dnnl::prop_kind::forward_training;
      if (log) {
        return SoftmaxFwd{dnnl::logsoftmax_forward(dnnl::logsoftmax_forward::primitive_desc({pk, md, axis}, engine()))};
      }
      return SoftmaxFwd{dnnl::softmax_forward(dnnl::softmax_forward::primitive_desc({pk, md, axis}, engine()))};
    });
    p.prim.execute(stream(), {{DNNL_ARG_SRC, x->mem()}, {DNNL_ARG_DST, y->mem()}});
    stream().wait();
    nanRows(x->f32(), y->f32(), outer, len, inner);
    return out(y);
  });
}

// softmaxBackward(dy, y, shape, axis, log) -> handle (plain dx)
Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  return guarded(info, "softmaxBackward", [&]() -> Napi::Value {
    const dims shape = normDims(toDims(info[2]));
    const int axis = normAxis(info[3].As<Napi::Number>().Int64Value(), shape.size());
    const bool log = info[4].As<Napi::Boolean>().Value();
    auto dy0 = unwrap(info[0], "softmaxBackward");
    const bool bf = dy0->dataType() == dt::bf16;
    auto out = [&](const BufPtr& r) { return wrap(info.Env(), bf ? narrow(r) : r); };
    auto dy = plainOf(asDims(castTo(dy0, dt::f32), shape));
    auto y = plainOf(asDims(castTo(unwrap(info[1], "softmaxBackward"), dt::f32), shape));
    auto dx = allocPlain(shape);
    const int64_t n = dx->numel();
    if (n == 0) return out(dx);
    if (n <= kParallelMin) {
      int64_t outer, len, inner;
      splitAxis(shape, axis, outer, len, inner);
      softmaxBackwardLoop(dy->f32(), y->f32(), dx->f32(), outer, len, inner, log);
      return out(dx);
    }
    const memory::desc& md = y->md;
    std::string key(log ? "gen.logsoftmaxbwd:" : "gen.softmaxbwd:");
    keyPod(key, axis);
    keyMd(key, md);
    auto& p = cached<SoftmaxBwd>(key, [&]() {
      const auto pk = dnnl::prop_kind::forward_training;
      if (log) {
        dnnl::logsoftmax_forward::primitive_desc fwd({pk, md, axis}, engine());
        return SoftmaxBwd{dnnl::logsoftmax_backward(
            dnnl::logsoftmax_backward::primitive_desc({md, md, axis}, engine(), fwd))};
      }
      dnnl::softmax_forward::primitive_desc fwd({pk, md, axis}, engine());
      return SoftmaxBwd{
          dnnl::softmax_backward(dnnl::softmax_backward::primitive_desc({md, md, axis}, engine(), fwd))};
    });
    p.prim.execute(stream(), {{DNNL_ARG_DST, y->mem()}, {DNNL_ARG_DIFF_DST, dy->mem()}, {DNNL_ARG_DIFF_SRC, dx->mem()}});
    stream().wait();
    if (log) {
      // dx = dy - exp(y) sum(dy): oneDNN's jit exp turns a NaN y into +Inf (dx = -Inf); PyTorch: NaN
      const float* ys = y->f32();
      float* d = dx->f32();
      parallelFor(n, [&](int64_t b, int64_t e) {
        int any = 0;
        for (int64_t i = b; i < e; ++i) any |= (ys[i] != ys[i]);
        if (any)
          for (int64_t i = b; i < e; ++i) d[i] = ys[i] != ys[i] ? ys[i] : d[i];
      });
    }
    return out(dx);
  });
}

}  // namespace

void InitSoftmax(Napi::Env env, Napi::Object exports) {
  exports.Set("softmax", Napi::Function::New(env, Softmax));
  exports.Set("softmaxBackward", Napi::Function::New(env, SoftmaxBackward));
}

}  // namespace cn
