// softmax / logSoftmax forward and backward along any axis, on oneDNN's softmax_forward,
// logsoftmax_forward and their backward primitives over plain data.
#include "buf.h"

namespace cn {
namespace gen {
// defined in elementwise.cc
dims normDims(const dims& d);
int64_t prodOf(const dims& d);
BufPtr asDims(const BufPtr& b, const dims& d);
BufPtr castTo(const BufPtr& x, dt to);
}  // namespace gen

using namespace gen;

namespace {

int normAxis(int64_t axis, size_t nd) {
  if (axis < 0) axis += static_cast<int64_t>(nd);
  if (axis < 0 || axis >= static_cast<int64_t>(nd)) throw std::runtime_error("axis out of range");
  return static_cast<int>(axis);
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
    auto x = toPlain(asDims(castTo(unwrap(info[0], "softmax"), dt::f32), shape));
    auto y = allocPlain(shape);
    if (y->numel() == 0) return wrap(info.Env(), y);
    const memory::desc md = x->md;
    std::string key = std::string("gen.softmax:") + (log ? "log:" : "") + std::to_string(axis) + ":" + mdKey(md);
    auto& p = cached<SoftmaxFwd>(key, [&]() {
      const auto pk = dnnl::prop_kind::forward_training;
      if (log) {
        return SoftmaxFwd{dnnl::logsoftmax_forward(dnnl::logsoftmax_forward::primitive_desc({pk, md, axis}, engine()))};
      }
      return SoftmaxFwd{dnnl::softmax_forward(dnnl::softmax_forward::primitive_desc({pk, md, axis}, engine()))};
    });
    p.prim.execute(stream(), {{DNNL_ARG_SRC, x->mem()}, {DNNL_ARG_DST, y->mem()}});
    stream().wait();
    return wrap(info.Env(), y);
  });
}

// softmaxBackward(dy, y, shape, axis, log) -> handle (plain dx)
Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  return guarded(info, "softmaxBackward", [&]() -> Napi::Value {
    const dims shape = normDims(toDims(info[2]));
    const int axis = normAxis(info[3].As<Napi::Number>().Int64Value(), shape.size());
    const bool log = info[4].As<Napi::Boolean>().Value();
    auto dy = toPlain(asDims(castTo(unwrap(info[0], "softmaxBackward"), dt::f32), shape));
    auto y = toPlain(asDims(castTo(unwrap(info[1], "softmaxBackward"), dt::f32), shape));
    auto dx = allocPlain(shape);
    if (dx->numel() == 0) return wrap(info.Env(), dx);
    const memory::desc md = y->md;
    std::string key = std::string("gen.softmaxbwd:") + (log ? "log:" : "") + std::to_string(axis) + ":" + mdKey(md);
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
    return wrap(info.Env(), dx);
  });
}

}  // namespace

void InitSoftmax(Napi::Env env, Napi::Object exports) {
  exports.Set("softmax", Napi::Function::New(env, Softmax));
  exports.Set("softmaxBackward", Napi::Function::New(env, SoftmaxBackward));
}

}  // namespace cn
