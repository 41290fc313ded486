// 2-D convolution (forward, backward data, backward weights) on oneDNN, plus the small layout
// helpers shared by the other nn kernel families (pool.cc, bnorm.cc, resize.cc).
//
// Performance design: every primitive is created with `format_tag::any`, so oneDNN picks its
// preferred (blocked) layouts; inputs are reordered only when their layout differs from what the
// primitive expects (the output of a previous conv/pool/BN already matches), and outputs keep the
// primitive's layout. Primitive descriptors and primitives are cached per shape + parameters, so a
// steady-state call creates no descriptors.
#include <sstream>

#include "buf.h"

namespace cn {

// ---- helpers shared by the nn kernel families ---------------------------------------------------

/**
 * `b` viewed with logical dims `d` (same number of elements). Returns `b` itself when its dims are
 * already `d`; otherwise a plain view (sharing memory when `b` is plain, a plain copy if not).
 */
BufPtr nnAsDims(const BufPtr& b, const dims& d) {
  if (b->md.dims() == d) return b;
  int64_t n = 1;
  for (auto x : d) n *= x;
  if (n != b->numel()) {
    std::string shape;
    for (auto x : d) shape += (shape.empty() ? "" : ", ") + std::to_string(x);
    throw std::runtime_error("tensor has " + std::to_string(b->numel()) +
                             " elements, expected shape [" + shape + "]");
  }
  auto p = toPlain(b);
  auto v = std::make_shared<Buf>();
  v->data = p->data;
  v->md = plainDesc(d, p->md.data_type());
  return v;
}

/** The format tag of a 4-D/2-D f32 md among the common ones, or format_tag::undef. */
static tag nnTagOf(const memory::desc& md) {
  static const tag tags4[] = {tag::nchw, tag::nhwc, tag::nChw16c, tag::nChw8c, tag::nChw4c};
  static const tag tags2[] = {tag::nc, tag::cn};
  const auto d = md.dims();
  if (md.data.format_kind != dnnl_blocked) return tag::undef;
  if (d.size() == 4) {
    for (auto t : tags4)
      if (memory::desc(d, md.data_type(), t) == md) return t;
  } else if (d.size() == 2) {
    for (auto t : tags2)
      if (memory::desc(d, md.data_type(), t) == md) return t;
  }
  return tag::undef;
}

/**
 * A descriptor of dims `d` in the same format as `like` (e.g. nChw16c stays nChw16c when the
 * spatial dims change); plain when the format of `like` is not a recognised one.
 */
memory::desc nnDescLike(const memory::desc& like, const dims& d, dt t) {
  if (like.dims().size() == d.size()) {
    tag tg = nnTagOf(like);
    if (tg != tag::undef) return memory::desc(d, t, tg);
  }
  return plainDesc(d, t);
}

/** A plain Buf reinterpreted with another (same-size) descriptor, sharing its memory. */
static BufPtr reinterpret(const BufPtr& b, const memory::desc& md) {
  auto v = std::make_shared<Buf>();
  v->data = b->data;
  v->md = md;
  return v;
}

namespace {

using dnnl::algorithm;
using dnnl::prop_kind;

struct ConvGeom {
  dims x, w, y;  // logical: x [N,C,H,W], w [O,C/g,KH,KW], y [N,O,OH,OW]
  dims stride, padL, padR, dil;  // oneDNN conventions (dil = PyTorch dilation - 1)
  int64_t groups = 1;

  dims weightDims() const {
    if (groups == 1) return w;
    return {groups, w[0] / groups, w[1], w[2], w[3]};
  }
  std::string key() const {
    std::ostringstream s;
    s << dimsKey(x) << '|' << dimsKey(w) << '|' << dimsKey(y) << '|' << dimsKey(stride) << '|'
      << dimsKey(padL) << '|' << dimsKey(padR) << '|' << dimsKey(dil) << '|' << groups;
    return s.str();
  }
};

/** Reads the geometry arguments: stride, padding, dilation (PyTorch style), groups. */
ConvGeom readGeom(const Napi::CallbackInfo& info, int at, const dims& x, const dims& w,
                  const dims& y) {
  ConvGeom g;
  g.x = x;
  g.w = w;
  g.y = y;
  auto stride = toDims(info[at]);
  auto pad = toDims(info[at + 1]);
  auto dil = toDims(info[at + 2]);
  g.groups = info[at + 3].As<Napi::Number>().Int64Value();
  if (x.size() != 4 || w.size() != 4 || y.size() != 4 || stride.size() != 2 || pad.size() != 2 ||
      dil.size() != 2 || g.groups < 1)
    fail(info.Env(), "conv2d: bad shapes or parameters");
  if (x[1] != w[1] * g.groups || w[0] % g.groups != 0 || y[1] != w[0] || x[0] != y[0])
    fail(info.Env(), "conv2d: inconsistent channel counts");
  g.stride = stride;
  g.padL = pad;
  g.dil = {dil[0] - 1, dil[1] - 1};
  g.padR = dims(2);
  for (int i = 0; i < 2; ++i) {
    int64_t range = (w[2 + i] - 1) * dil[i] + 1;
    // Symmetric padding reproduces PyTorch's floor rule (oneDNN checks with floor division too);
    // otherwise pad the right side exactly as much as the given output size needs.
    if ((x[2 + i] + 2 * pad[i] - range) / stride[i] + 1 == y[2 + i])
      g.padR[i] = pad[i];
    else
      g.padR[i] = (y[2 + i] - 1) * stride[i] + range - x[2 + i] - pad[i];
  }
  return g;
}

memory::desc anyDesc(const dims& d) { return memory::desc(d, dt::f32, tag::any); }

dnnl::convolution_forward::primitive_desc makeFwdPd(const ConvGeom& g, bool bias) {
  auto bmd = bias ? memory::desc({g.y[1]}, dt::f32, tag::a) : memory::desc();
  dnnl::convolution_forward::desc d(prop_kind::forward_training, algorithm::convolution_direct,
                                    anyDesc(g.x), anyDesc(g.weightDims()), bmd, anyDesc(g.y),
                                    g.stride, g.dil, g.padL, g.padR);
  return dnnl::convolution_forward::primitive_desc(d, engine());
}

struct FwdEntry {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
  memory::desc src, wei, dst;
};

struct BwdDataEntry {
  dnnl::convolution_backward_data::primitive_desc pd;
  dnnl::convolution_backward_data prim;
  memory::desc diffSrc, wei, diffDst;
};

struct BwdWeiEntry {
  dnnl::convolution_backward_weights::primitive_desc pd;
  dnnl::convolution_backward_weights prim;
  memory::desc src, diffWei, diffBias, diffDst;
};

/** The weights of logical dims [O, C/g, KH, KW] in the layout `want` (grouped when g > 1). */
BufPtr weightsAs(const BufPtr& w0, const ConvGeom& g, const memory::desc& want) {
  auto w = nnAsDims(w0, g.w);
  if (g.groups == 1) return reorderTo(w, want);
  // [O, C/g, KH, KW] row-major has the same bytes as [g, O/g, C/g, KH, KW] row-major (goihw).
  auto grouped = reinterpret(toPlain(w), plainDesc(g.weightDims()));
  return reorderTo(grouped, want);
}

bool hasZero(const dims& d) {
  for (auto x : d)
    if (x == 0) return true;
  return false;
}

// conv2d(x, xDims, w, wDims, b|null, stride, padding, dilation, groups, yDims) -> y
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  return guarded(info, "conv2d", [&]() -> Napi::Value {
    auto x = unwrap(info[0], "conv2d x");
    auto xd = toDims(info[1]);
    auto w = unwrap(info[2], "conv2d w");
    auto wd = toDims(info[3]);
    auto b = unwrapOpt(info[4], "conv2d b");
    auto g = readGeom(info, 5, xd, wd, toDims(info[9]));
    if (hasZero(g.x) || hasZero(g.y)) {
      auto y = allocPlain(g.y, dt::f32, true);
      return wrap(info.Env(), y);
    }
    x = nnAsDims(x, g.x);
    bool bias = b != nullptr;
    auto& e = cached<FwdEntry>("convF|" + g.key() + (bias ? "|b" : "|-"), [&]() {
      FwdEntry e;
      e.pd = makeFwdPd(g, bias);
      e.prim = dnnl::convolution_forward(e.pd);
      e.src = e.pd.src_desc();
      e.wei = e.pd.weights_desc();
      e.dst = e.pd.dst_desc();
      return e;
    });
    auto xs = reorderTo(x, e.src);
    auto ws = weightsAs(w, g, e.wei);
    auto y = allocBuf(e.dst);
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, xs->mem()}, {DNNL_ARG_WEIGHTS, ws->mem()}, {DNNL_ARG_DST, y->mem()}};
    BufPtr bb;
    if (bias) {
      bb = toPlain(nnAsDims(b, {g.y[1]}));
      args.emplace(DNNL_ARG_BIAS, bb->mem());
    }
    e.prim.execute(stream(), args);
    stream().wait();
    return wrap(info.Env(), y);
  });
}

// conv2dBackwardData(dy, dyDims, w, wDims, xDims, stride, padding, dilation, groups) -> dx
Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info) {
  return guarded(info, "conv2dBackwardData", [&]() -> Napi::Value {
    auto dy = unwrap(info[0], "conv2dBackwardData dy");
    auto yd = toDims(info[1]);
    auto w = unwrap(info[2], "conv2dBackwardData w");
    auto wd = toDims(info[3]);
    auto xd = toDims(info[4]);
    auto g = readGeom(info, 5, xd, wd, yd);
    if (hasZero(g.x) || hasZero(g.y)) return wrap(info.Env(), allocPlain(g.x, dt::f32, true));
    dy = nnAsDims(dy, g.y);
    auto& e = cached<BwdDataEntry>("convD|" + g.key(), [&]() {
      auto hint = makeFwdPd(g, false);
      dnnl::convolution_backward_data::desc d(algorithm::convolution_direct, anyDesc(g.x),
                                              anyDesc(g.weightDims()), anyDesc(g.y), g.stride,
                                              g.dil, g.padL, g.padR);
      BwdDataEntry e;
      e.pd = dnnl::convolution_backward_data::primitive_desc(d, engine(), hint);
      e.prim = dnnl::convolution_backward_data(e.pd);
      e.diffSrc = e.pd.diff_src_desc();
      e.wei = e.pd.weights_desc();
      e.diffDst = e.pd.diff_dst_desc();
      return e;
    });
    auto dys = reorderTo(dy, e.diffDst);
    auto ws = weightsAs(w, g, e.wei);
    auto dx = allocBuf(e.diffSrc);
    e.prim.execute(stream(), {{DNNL_ARG_DIFF_DST, dys->mem()},
                              {DNNL_ARG_WEIGHTS, ws->mem()},
                              {DNNL_ARG_DIFF_SRC, dx->mem()}});
    stream().wait();
    return wrap(info.Env(), dx);
  });
}

// conv2dBackwardWeights(dy, dyDims, x, xDims, wDims, hasBias, stride, padding, dilation, groups)
//   -> [dw, db|null]
Napi::Value Conv2dBackwardWeights(const Napi::CallbackInfo& info) {
  return guarded(info, "conv2dBackwardWeights", [&]() -> Napi::Value {
    auto dy = unwrap(info[0], "conv2dBackwardWeights dy");
    auto yd = toDims(info[1]);
    auto x = unwrap(info[2], "conv2dBackwardWeights x");
    auto xd = toDims(info[3]);
    auto wd = toDims(info[4]);
    bool bias = info[5].ToBoolean().Value();
    auto g = readGeom(info, 6, xd, wd, yd);
    auto out = Napi::Array::New(info.Env(), 2);
    if (hasZero(g.x) || hasZero(g.y) || hasZero(g.w)) {
      out.Set(0u, wrap(info.Env(), allocPlain(g.w, dt::f32, true)));
      out.Set(1u, bias ? wrap(info.Env(), allocPlain({g.y[1]}, dt::f32, true))
                       : info.Env().Null());
      return out;
    }
    dy = nnAsDims(dy, g.y);
    x = nnAsDims(x, g.x);
    auto& e = cached<BwdWeiEntry>("convW|" + g.key() + (bias ? "|b" : "|-"), [&]() {
      auto hint = makeFwdPd(g, bias);
      auto bmd = bias ? memory::desc({g.y[1]}, dt::f32, tag::a) : memory::desc();
      dnnl::convolution_backward_weights::desc d(algorithm::convolution_direct, anyDesc(g.x),
                                                 anyDesc(g.weightDims()), bmd, anyDesc(g.y),
                                                 g.stride, g.dil, g.padL, g.padR);
      BwdWeiEntry e;
      e.pd = dnnl::convolution_backward_weights::primitive_desc(d, engine(), hint);
      e.prim = dnnl::convolution_backward_weights(e.pd);
      e.src = e.pd.src_desc();
      e.diffWei = e.pd.diff_weights_desc();
      e.diffBias = e.pd.diff_bias_desc();
      e.diffDst = e.pd.diff_dst_desc();
      return e;
    });
    auto xs = reorderTo(x, e.src);
    auto dys = reorderTo(dy, e.diffDst);
    auto dw = allocBuf(e.diffWei);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, xs->mem()},
                                         {DNNL_ARG_DIFF_DST, dys->mem()},
                                         {DNNL_ARG_DIFF_WEIGHTS, dw->mem()}};
    BufPtr db;
    if (bias) {
      db = allocBuf(e.diffBias);
      args.emplace(DNNL_ARG_DIFF_BIAS, db->mem());
    }
    e.prim.execute(stream(), args);
    stream().wait();
    if (g.groups > 1) {
      // Bring the grouped gradient back to plain goihw = plain [O, C/g, KH, KW] bytes.
      auto plain = reorderTo(dw, plainDesc(g.weightDims()));
      dw = reinterpret(plain, plainDesc(g.w));
    }
    out.Set(0u, wrap(info.Env(), dw));
    out.Set(1u, bias ? wrap(info.Env(), toPlain(db)) : info.Env().Null());
    return out;
  });
}

// convImpl(xDims, wDims, yDims, stride, padding, dilation, groups) -> implementation names of the
// forward / backward-data / backward-weights primitives (for benchmarks and debugging).
Napi::Value ConvImpl(const Napi::CallbackInfo& info) {
  return guarded(info, "convImpl", [&]() -> Napi::Value {
    auto g = readGeom(info, 3, toDims(info[0]), toDims(info[1]), toDims(info[2]));
    auto hint = makeFwdPd(g, false);
    dnnl::convolution_backward_data::desc dd(algorithm::convolution_direct, anyDesc(g.x),
                                             anyDesc(g.weightDims()), anyDesc(g.y), g.stride,
                                             g.dil, g.padL, g.padR);
    dnnl::convolution_backward_data::primitive_desc dpd(dd, engine(), hint);
    dnnl::convolution_backward_weights::desc wd(algorithm::convolution_direct, anyDesc(g.x),
                                                anyDesc(g.weightDims()), memory::desc(),
                                                anyDesc(g.y), g.stride, g.dil, g.padL, g.padR);
    dnnl::convolution_backward_weights::primitive_desc wpd(wd, engine(), hint);
    auto o = Napi::Object::New(info.Env());
    o.Set("forward", hint.impl_info_str());
    o.Set("backwardData", dpd.impl_info_str());
    o.Set("backwardWeights", wpd.impl_info_str());
    o.Set("src", mdKey(hint.src_desc()));
    o.Set("weights", mdKey(hint.weights_desc()));
    o.Set("dst", mdKey(hint.dst_desc()));
    return o;
  });
}

}  // namespace

void InitConv(Napi::Env env, Napi::Object exports) {
  exports.Set("conv2d", Napi::Function::New(env, Conv2d));
  exports.Set("conv2dBackwardData", Napi::Function::New(env, Conv2dBackwardData));
  exports.Set("conv2dBackwardWeights", Napi::Function::New(env, Conv2dBackwardWeights));
  exports.Set("convImpl", Napi::Function::New(env, ConvImpl));
}

}  // namespace cn
