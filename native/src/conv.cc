// 2-D convolution (forward, backward data, backward weights) on oneDNN, plus the small layout
// helpers shared by the other nn kernel families (pool.cc, bnorm.cc, resize.cc).
//
// Performance design: every primitive is created with `format_tag::any`, so oneDNN picks its
// preferred (blocked) layouts; inputs are reordered only when their layout differs from what the
// primitive expects (the output of a previous conv/pool/BN already matches), and outputs keep the
// primitive's layout. Primitive descriptors and primitives are cached per shape + parameters, so a
// steady-state call creates no descriptors.
//
// Algorithm per layer (as cuDNN's benchmark mode): each direction (forward, backward-data,
// backward-weights) of each geometry runs oneDNN's direct algorithm or its f32 Winograd F(4x4,3x3)
// (`algorithm::convolution_winograd`, 2.6-2.8x faster on the 3x3 stride-1 layers where it exists).
// oneDNN 2.6 implements Winograd (its jit_avx512_core_f32_wino_conv_4x3 kernels, all three
// directions) only for: 2-D, 3x3 kernels, stride 1, no dilation, groups 1, padding <= 1 on every
// side, f32, AVX-512 (avx512_core) CPUs; channel counts that are not a multiple of 16 are
// zero-padded by oneDNN. Per its sources the training primitives take src/dst as nChw16c and
// weights as OIhw16i16o, the layouts of the direct AVX-512 kernels, so blocked activation chains
// stay intact (and where a layout does differ, the timing below charges the reorder). In 'auto'
// mode the first call of a geometry and direction times both candidates a few times on the call's
// real inputs, including the reorders each candidate needs from the inputs' actual layouts and,
// when a candidate's output layout differs from the direct one's, a reorder of its output to that
// layout (what the consumers of the output would otherwise pay), and caches the winner with the
// primitive. `setConvAlgo('direct' | 'winograd' | 'auto')` (env CONVNET_CONV_ALGO, applied by the
// TS adapter) forces an algorithm from then on (Winograd where it exists, direct elsewhere);
// `convAlgos()` lists every cached choice with its timings.
//
// bfloat16 is a precision of its own: x and w bf16 give a bf16 y / dx / dw (db too), accumulated in
// float32 and rounded once; the bias is used as float32. Its choice is cached apart from float32's
// and is always the direct algorithm (oneDNN's Winograd is float32-only): oneDNN's bf16 direct
// convolution where it has a non-reference implementation for this CPU (AVX-512: its
// jit_avx512_core_bf16 kernels; AVX2 CPUs have none in oneDNN 2.6), else the float32 direct
// convolution on widened copies in the same layouts, its results rounded once. Either way
// activations stay bf16 in the blocked layouts the primitives choose.
#include <algorithm>
#include <chrono>
#include <sstream>

#include "dtype.h"

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
  dt t = dt::f32;  // the precision: f32, or bf16 (data bf16, accumulation f32)

  dims weightDims() const {
    if (groups == 1) return w;
    return {groups, w[0] / groups, w[1], w[2], w[3]};
  }
  std::string key() const {
    std::ostringstream s;
    s << dimsKey(x) << '|' << dimsKey(w) << '|' << dimsKey(y) << '|' << dimsKey(stride) << '|'
      << dimsKey(padL) << '|' << dimsKey(padR) << '|' << dimsKey(dil) << '|' << groups << '|'
      << dtName(t);
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

memory::desc anyDesc(const dims& d, dt t) { return memory::desc(d, t, tag::any); }

// ---- algorithms ---------------------------------------------------------------------------------

enum class Algo { Direct = 0, Winograd = 1 };
enum class Mode { Auto, Direct, Winograd };
constexpr int kAlgos = 2;

const char* algoName(Algo a) { return a == Algo::Winograd ? "winograd" : "direct"; }
const char* modeName(Mode m) { return m == Mode::Auto ? "auto" : m == Mode::Direct ? "direct" : "winograd"; }
algorithm dnnlAlg(Algo a) { return a == Algo::Winograd ? algorithm::convolution_winograd : algorithm::convolution_direct; }

Mode g_mode = Mode::Auto;

/**
 * Why oneDNN 2.6 has no Winograd for this geometry ("" when the shape qualifies; the CPU may still
 * lack it). The conditions of its jit_avx512_core_f32_wino_conv_4x3 kernels.
 */
std::string winogradShapeIssue(const ConvGeom& g) {
  if (g.t != dt::f32) return "Winograd is float32-only (bfloat16 runs the direct algorithm)";
  if (g.groups != 1) return "groups > 1";
  if (g.w[2] != 3 || g.w[3] != 3) return "kernel is not 3x3";
  if (g.stride[0] != 1 || g.stride[1] != 1) return "stride is not 1";
  if (g.dil[0] != 0 || g.dil[1] != 0) return "dilation is not 1";
  for (int i = 0; i < 2; ++i)
    if (g.padL[i] < 0 || g.padL[i] > 1 || g.padR[i] < 0 || g.padR[i] > 1) return "padding is not 0 or 1";
  return "";
}

/** Why oneDNN gave no Winograd primitive for a shape that qualifies. */
const char* noWinogradHere() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto need = static_cast<unsigned>(dnnl::cpu_isa::avx512_core);
  return (isa & need) == need ? "oneDNN declined Winograd for this shape"
                              : "oneDNN 2.6 has no f32 Winograd convolution for this CPU (it needs AVX-512)";
}

/**
 * Runs `make` (entries that may not exist are cached as null by cachedOpt, so oneDNN is asked
 * once). For Winograd a oneDNN error means "not implemented here" and gives null; for bf16 too,
 * and so does a bf16 primitive oneDNN only has its reference implementation of (bf16ImplFast).
 */
template <class T>
std::unique_ptr<T> makeOrNull(Algo a, const ConvGeom& g, const std::function<std::unique_ptr<T>()>& make) {
  if (g.t == dt::bf16) return bf16Entry<T>(true, make);
  if (a == Algo::Direct) return make();
  try {
    return make();
  } catch (const dnnl::error&) {
    return nullptr;
  }
}

struct FwdEntry {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim_;
  memory::desc src, wei, dst;
  dnnl::convolution_forward& prim() {
    if (!prim_) prim_ = dnnl::convolution_forward(pd);
    return prim_;
  }
};

struct BwdDataEntry {
  dnnl::convolution_backward_data::primitive_desc pd;
  dnnl::convolution_backward_data prim_;
  memory::desc diffSrc, wei, diffDst;
  dnnl::convolution_backward_data& prim() {
    if (!prim_) prim_ = dnnl::convolution_backward_data(pd);
    return prim_;
  }
};

struct BwdWeiEntry {
  dnnl::convolution_backward_weights::primitive_desc pd;
  dnnl::convolution_backward_weights prim_;
  memory::desc src, diffWei, diffBias, diffDst;
  dnnl::convolution_backward_weights& prim() {
    if (!prim_) prim_ = dnnl::convolution_backward_weights(pd);
    return prim_;
  }
};

/** True when Winograd is worth asking oneDNN for (the shape qualifies). */
bool winogradShapeOk(const ConvGeom& g) { return winogradShapeIssue(g).empty(); }

/** The forward primitive descriptor of algorithm `a` (null: not implemented for this geometry/CPU). */
FwdEntry* fwdEntry(const ConvGeom& g, bool bias, Algo a) {
  if (a == Algo::Winograd && !winogradShapeOk(g)) return nullptr;
  return cachedOpt<FwdEntry>(std::string("convF|") + algoName(a) + "|" + g.key() + (bias ? "|b" : "|-"), [&]() {
    return makeOrNull<FwdEntry>(a, g, [&]() {
      auto bmd = bias ? memory::desc({g.y[1]}, dt::f32, tag::a) : memory::desc();  // f32 bias (bf16 too)
      dnnl::convolution_forward::desc d(prop_kind::forward_training, dnnlAlg(a), anyDesc(g.x, g.t),
                                        anyDesc(g.weightDims(), g.t), bmd, anyDesc(g.y, g.t), g.stride,
                                        g.dil, g.padL, g.padR);
      auto e = std::make_unique<FwdEntry>();
      e->pd = dnnl::convolution_forward::primitive_desc(d, primAttr(), engine());
      e->src = e->pd.src_desc();
      e->wei = e->pd.weights_desc();
      e->dst = e->pd.dst_desc();
      return e;
    });
  });
}

/** The forward descriptor a backward primitive of algorithm `a` is hinted with (null: none, bf16). */
const dnnl::convolution_forward::primitive_desc* hintFor(const ConvGeom& g, bool bias, Algo a) {
  FwdEntry* f = fwdEntry(g, bias, a);
  if (f == nullptr) f = fwdEntry(g, bias, Algo::Direct);
  return f == nullptr ? nullptr : &f->pd;
}

/**
 * The src and dst descriptors for a backward primitive hinted by `hint`: the forward's own when it
 * runs on plain layouts (oneDNN's gemm convolution, chosen for first layers with few input
 * channels), else `any`. With `any` the backward picks a blocked kernel, and every call copied x into
 * channels zero-padded to the block (8x the input for one channel) and dy into blocked form, the
 * largest temporaries of a step (AlexNet, batch 128: 205 + 143 MB at the step's peak); oneDNN's gemm
 * backward reads the plain tensors as they are.
 */
std::pair<memory::desc, memory::desc> backwardDescs(const ConvGeom& g, const dnnl::convolution_forward::primitive_desc& hint) {
  if (hint.src_desc() == plainDesc(g.x, g.t) && hint.dst_desc() == plainDesc(g.y, g.t)) return {hint.src_desc(), hint.dst_desc()};
  return {anyDesc(g.x, g.t), anyDesc(g.y, g.t)};
}

BwdDataEntry* bwdDataEntry(const ConvGeom& g, Algo a) {
  if (a == Algo::Winograd && !winogradShapeOk(g)) return nullptr;
  return cachedOpt<BwdDataEntry>(std::string("convD|") + algoName(a) + "|" + g.key(), [&]() {
    const auto* hint = hintFor(g, false, a);
    if (hint == nullptr) return std::unique_ptr<BwdDataEntry>();
    return makeOrNull<BwdDataEntry>(a, g, [&]() {
      const auto sd = backwardDescs(g, *hint);
      dnnl::convolution_backward_data::desc d(dnnlAlg(a), sd.first, anyDesc(g.weightDims(), g.t),
                                              sd.second, g.stride, g.dil, g.padL, g.padR);
      auto e = std::make_unique<BwdDataEntry>();
      e->pd = dnnl::convolution_backward_data::primitive_desc(d, primAttr(), engine(), *hint);
      e->diffSrc = e->pd.diff_src_desc();
      e->wei = e->pd.weights_desc();
      e->diffDst = e->pd.diff_dst_desc();
      return e;
    });
  });
}

BwdWeiEntry* bwdWeiEntry(const ConvGeom& g, bool bias, Algo a) {
  if (a == Algo::Winograd && !winogradShapeOk(g)) return nullptr;
  return cachedOpt<BwdWeiEntry>(std::string("convW|") + algoName(a) + "|" + g.key() + (bias ? "|b" : "|-"), [&]() {
    const auto* hint = hintFor(g, bias, a);
    if (hint == nullptr) return std::unique_ptr<BwdWeiEntry>();
    return makeOrNull<BwdWeiEntry>(a, g, [&]() {
      // float32 weight and bias gradients (also for bf16 data: accumulated in f32, rounded by the caller)
      auto bmd = bias ? memory::desc({g.y[1]}, dt::f32, tag::a) : memory::desc();
      const auto sd = backwardDescs(g, *hint);
      dnnl::convolution_backward_weights::desc d(dnnlAlg(a), sd.first, anyDesc(g.weightDims(), dt::f32),
                                                 bmd, sd.second, g.stride, g.dil, g.padL, g.padR);
      auto e = std::make_unique<BwdWeiEntry>();
      e->pd = dnnl::convolution_backward_weights::primitive_desc(d, primAttr(), engine(), *hint);
      e->src = e->pd.src_desc();
      e->diffWei = e->pd.diff_weights_desc();
      e->diffBias = e->pd.diff_bias_desc();
      e->diffDst = e->pd.diff_dst_desc();
      return e;
    });
  });
}

// ---- the algorithm choice cache -------------------------------------------------------------

/** One cached choice: which algorithm a geometry + direction runs, and why. */
struct Choice {
  std::string direction;  // forward | backwardData | backwardWeights
  ConvGeom g;
  bool bias = false;
  Mode mode = Mode::Auto;
  Algo algo = Algo::Direct;
  bool measured = false;
  double ms[kAlgos] = {-1, -1};  // best measured time per candidate (ms), -1 when not timed
  std::string reason;
  std::string impl;  // oneDNN's implementation name of the chosen primitive
};

std::vector<Choice> g_choices;
std::unordered_map<std::string, size_t> g_choiceIndex;
int64_t g_measurements = 0;  // number of choices made by timing (for tests)

double nowMs() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/**
 * The algorithm for `direction` of geometry g: the cached choice, or a new one made by the current
 * mode. `available(a)` says whether oneDNN implements algorithm a here; `run(a)` executes one
 * complete call with algorithm a (reorders included) and returns nothing useful, for timing;
 * `impl(a)` names oneDNN's implementation.
 */
Algo chooseAlgo(const char* direction, const ConvGeom& g, bool bias, const std::function<bool(Algo)>& available,
                const std::function<void(Algo)>& run, const std::function<std::string(Algo)>& impl) {
  // bf16 choices also depend on the bf16 mode (oneDNN's bf16 primitive or float32 on converted data)
  const std::string key = std::string(direction) + "|" + g.key() + (bias ? "|b|" : "|-|") + modeName(g_mode) +
                          (g.t == dt::bf16 ? (bf16Mode() == Bf16Mode::Auto ? "|auto" : "|f32") : "");
  auto it = g_choiceIndex.find(key);
  if (it != g_choiceIndex.end()) return g_choices[it->second].algo;
  Choice c;
  c.direction = direction;
  c.g = g;
  c.bias = bias;
  c.mode = g_mode;
  const std::string shapeIssue = winogradShapeIssue(g);
  const bool wino = available(Algo::Winograd);
  const std::string noWino = "Winograd unavailable: " + (shapeIssue.empty() ? std::string(noWinogradHere()) : shapeIssue);
  if (g.t == dt::bf16) {
    c.algo = Algo::Direct;
    c.reason = std::string(g_mode == Mode::Winograd ? "forced winograd; " : "") +
               "bfloat16 runs the direct algorithm (Winograd is float32-only)";
  } else if (g_mode == Mode::Direct) {
    c.algo = Algo::Direct;
    c.reason = "forced direct";
  } else if (g_mode == Mode::Winograd) {
    c.algo = wino ? Algo::Winograd : Algo::Direct;
    c.reason = wino ? "forced winograd" : "forced winograd; " + noWino + ", direct used";
  } else if (!wino) {
    c.algo = Algo::Direct;
    c.reason = "only direct: " + noWino;
  } else {
    // Time both on the real inputs: one warm-up call each (primitive creation, first touch), then
    // the best of kTimed calls, interleaved so that a burst of load hits both alike.
    const int kTimed = 2;
    const Algo cands[kAlgos] = {Algo::Direct, Algo::Winograd};
    for (Algo a : cands) run(a);
    for (int r = 0; r < kTimed; ++r) {
      for (Algo a : cands) {
        const double t0 = nowMs();
        run(a);
        const double t = nowMs() - t0;
        double& best = c.ms[static_cast<int>(a)];
        if (best < 0 || t < best) best = t;
      }
    }
    c.measured = true;
    ++g_measurements;
    c.algo = c.ms[1] < c.ms[0] ? Algo::Winograd : Algo::Direct;
    c.reason = "measured";
  }
  c.impl = impl(c.algo);
  g_choiceIndex.emplace(key, g_choices.size());
  g_choices.push_back(std::move(c));
  return g_choices.back().algo;
}

/** The weights of logical dims [O, C/g, KH, KW] in the layout `want` (grouped when g > 1). */
BufPtr weightsAs(const BufPtr& w0, const ConvGeom& g, const memory::desc& want) {
  auto w = nnAsDims(w0, g.w);
  if (g.groups == 1) return reorderTo(w, want);
  // [O, C/g, KH, KW] row-major has the same bytes as [g, O/g, C/g, KH, KW] row-major (goihw).
  auto grouped = reinterpret(toPlain(w), plainDesc(g.weightDims(), w->dataType()));
  return reorderTo(grouped, want);
}

bool hasZero(const dims& d) {
  for (auto x : d)
    if (x == 0) return true;
  return false;
}

// ---- one call of each direction (used for the real call and for timing candidates) ----------

BufPtr runFwd(FwdEntry& e, const ConvGeom& g, const BufPtr& x, const BufPtr& w, const BufPtr& bb) {
  auto xs = reorderTo(x, e.src);
  auto ws = weightsAs(w, g, e.wei);
  auto y = allocBuf(e.dst);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, xs->mem()}, {DNNL_ARG_WEIGHTS, ws->mem()}, {DNNL_ARG_DST, y->mem()}};
  if (bb) args.emplace(DNNL_ARG_BIAS, bb->mem());
  execute(e.prim(), args);
  return y;
}

BufPtr runBwdData(BwdDataEntry& e, const ConvGeom& g, const BufPtr& dy, const BufPtr& w) {
  auto dys = reorderTo(dy, e.diffDst);
  auto ws = weightsAs(w, g, e.wei);
  auto dx = allocBuf(e.diffSrc);
  execute(e.prim(), {{DNNL_ARG_DIFF_DST, dys->mem()}, {DNNL_ARG_WEIGHTS, ws->mem()}, {DNNL_ARG_DIFF_SRC, dx->mem()}});
  return dx;
}

std::pair<BufPtr, BufPtr> runBwdWei(BwdWeiEntry& e, const BufPtr& x, const BufPtr& dy, bool bias) {
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
  execute(e.prim(), args);
  return {dw, db};
}

/** For timing: when a candidate's output layout differs from the direct one's, the reorder its consumers would pay. */
void layoutPenalty(const BufPtr& out, const memory::desc& directMd) {
  if (out->md != directMd) reorderTo(out, directMd);
}

// ---- bfloat16 ----------------------------------------------------------------------------------

/** The precision of a convolution of a and b: bf16 when both are bf16, else float32. */
dt convType(const BufPtr& a, const BufPtr& b) {
  return a->dataType() == dt::bf16 && b->dataType() == dt::bf16 ? dt::bf16 : dt::f32;
}

/** The float32 twin of a bf16 geometry (where the fallback computes). */
ConvGeom f32Twin(const ConvGeom& g) {
  ConvGeom r = g;
  r.t = dt::f32;
  return r;
}

/** Why a bf16 convolution does not run oneDNN's bf16 primitive (entry: the bf16 entry or null). */
std::string noBf16Why(const void* entry) {
  if (entry != nullptr) return "bf16 mode 'f32'";
  return bf16Native() ? "oneDNN has no fast bf16 implementation for this shape"
                      : "oneDNN 2.6 has no bf16 convolution for this CPU (it needs AVX-512)";
}

/**
 * Records the choice of `direction` for bf16 geometry g (always direct) and says whether oneDNN's
 * bf16 primitive `entry` runs (else float32 on widened data); `impl` names the primitive that runs.
 */
bool bf16Choice(const char* direction, const ConvGeom& g, bool bias, const void* entry,
                const std::function<std::string(bool native)>& impl) {
  const bool native = useBf16Primitive(entry);
  chooseAlgo(
      direction, g, bias, [](Algo) { return false; }, [](Algo) {},
      [&](Algo) { return native ? impl(true) : "float32 " + impl(false) + " on widened bf16 data (" + noBf16Why(entry) + ")"; });
  return native;
}

BufPtr convFwdBf16(const ConvGeom& g, bool bias, const BufPtr& x, const BufPtr& w, const BufPtr& bb) {
  FwdEntry* e = fwdEntry(g, bias, Algo::Direct);
  const ConvGeom g32 = f32Twin(g);
  const bool native = bf16Choice("forward", g, bias, e, [&](bool n) {
    return std::string((n ? e : fwdEntry(g32, bias, Algo::Direct))->pd.impl_info_str());
  });
  if (native) return runFwd(*e, g, x, w, bb);
  return narrow(runFwd(*fwdEntry(g32, bias, Algo::Direct), g32, widen(x), widen(w), bb));
}

BufPtr convBwdDataBf16(const ConvGeom& g, const BufPtr& dy, const BufPtr& w) {
  BwdDataEntry* e = bwdDataEntry(g, Algo::Direct);
  const ConvGeom g32 = f32Twin(g);
  const bool native = bf16Choice("backwardData", g, false, e, [&](bool n) {
    return std::string((n ? e : bwdDataEntry(g32, Algo::Direct))->pd.impl_info_str());
  });
  if (native) return runBwdData(*e, g, dy, w);
  return narrow(runBwdData(*bwdDataEntry(g32, Algo::Direct), g32, widen(dy), widen(w)));
}

/** dw and db in float32 (oneDNN's bf16 backward-weights writes float32 gradients). */
std::pair<BufPtr, BufPtr> convBwdWeiBf16(const ConvGeom& g, bool bias, const BufPtr& x, const BufPtr& dy) {
  BwdWeiEntry* e = bwdWeiEntry(g, bias, Algo::Direct);
  const ConvGeom g32 = f32Twin(g);
  const bool native = bf16Choice("backwardWeights", g, bias, e, [&](bool n) {
    return std::string((n ? e : bwdWeiEntry(g32, bias, Algo::Direct))->pd.impl_info_str());
  });
  if (native) return runBwdWei(*e, x, dy, bias);
  return runBwdWei(*bwdWeiEntry(g32, bias, Algo::Direct), widen(x), widen(dy), bias);
}

// ---- N-API ----------------------------------------------------------------------------------

// conv2d(x, xDims, w, wDims, b|null, stride, padding, dilation, groups, yDims) -> y (bf16 when x
// and w are bf16, else float32)
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  return guarded(info, "conv2d", [&]() -> Napi::Value {
    auto x = unwrap(info[0], "conv2d x");
    auto xd = toDims(info[1]);
    auto w = unwrap(info[2], "conv2d w");
    auto wd = toDims(info[3]);
    auto b = unwrapOpt(info[4], "conv2d b");
    auto g = readGeom(info, 5, xd, wd, toDims(info[9]));
    g.t = convType(x, w);
    if (hasZero(g.x) || hasZero(g.y)) {
      auto y = allocPlain(g.y, g.t, true);
      return wrap(info.Env(), y);
    }
    x = nnAsDims(x, g.x);
    const bool bias = b != nullptr;
    BufPtr bb = bias ? toPlain(nnAsDims(convertType(b, dt::f32), {g.y[1]})) : nullptr;
    if (g.t == dt::bf16) return wrap(info.Env(), convFwdBf16(g, bias, x, w, bb));
    const Algo a = chooseAlgo(
        "forward", g, bias, [&](Algo c) { return fwdEntry(g, bias, c) != nullptr; },
        [&](Algo c) {
          auto out = runFwd(*fwdEntry(g, bias, c), g, x, w, bb);
          if (c != Algo::Direct) layoutPenalty(out, fwdEntry(g, bias, Algo::Direct)->dst);
        },
        [&](Algo c) { return std::string(fwdEntry(g, bias, c)->pd.impl_info_str()); });
    return wrap(info.Env(), runFwd(*fwdEntry(g, bias, a), g, x, w, bb));
  });
}

// conv2dBackwardData(dy, dyDims, w, wDims, xDims, stride, padding, dilation, groups) -> dx (bf16
// when dy and w are bf16)
Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info) {
  return guarded(info, "conv2dBackwardData", [&]() -> Napi::Value {
    auto dy = unwrap(info[0], "conv2dBackwardData dy");
    auto yd = toDims(info[1]);
    auto w = unwrap(info[2], "conv2dBackwardData w");
    auto wd = toDims(info[3]);
    auto xd = toDims(info[4]);
    auto g = readGeom(info, 5, xd, wd, yd);
    g.t = convType(dy, w);
    if (hasZero(g.x) || hasZero(g.y)) return wrap(info.Env(), allocPlain(g.x, g.t, true));
    dy = nnAsDims(dy, g.y);
    if (g.t == dt::bf16) return wrap(info.Env(), convBwdDataBf16(g, dy, w));
    const Algo a = chooseAlgo(
        "backwardData", g, false, [&](Algo c) { return bwdDataEntry(g, c) != nullptr; },
        [&](Algo c) {
          auto out = runBwdData(*bwdDataEntry(g, c), g, dy, w);
          if (c != Algo::Direct) layoutPenalty(out, bwdDataEntry(g, Algo::Direct)->diffSrc);
        },
        [&](Algo c) { return std::string(bwdDataEntry(g, c)->pd.impl_info_str()); });
    return wrap(info.Env(), runBwdData(*bwdDataEntry(g, a), g, dy, w));
  });
}

// conv2dBackwardWeights(dy, dyDims, x, xDims, wDims, hasBias, stride, padding, dilation, groups)
//   -> [dw, db|null] (bf16 when dy and x are bf16: accumulated in float32, rounded once)
Napi::Value Conv2dBackwardWeights(const Napi::CallbackInfo& info) {
  return guarded(info, "conv2dBackwardWeights", [&]() -> Napi::Value {
    auto dy = unwrap(info[0], "conv2dBackwardWeights dy");
    auto yd = toDims(info[1]);
    auto x = unwrap(info[2], "conv2dBackwardWeights x");
    auto xd = toDims(info[3]);
    auto wd = toDims(info[4]);
    bool bias = info[5].ToBoolean().Value();
    auto g = readGeom(info, 6, xd, wd, yd);
    g.t = convType(dy, x);
    auto out = Napi::Array::New(info.Env(), 2);
    if (hasZero(g.x) || hasZero(g.y) || hasZero(g.w)) {
      out.Set(0u, wrap(info.Env(), allocPlain(g.w, g.t, true)));
      out.Set(1u, bias ? wrap(info.Env(), allocPlain({g.y[1]}, g.t, true))
                       : info.Env().Null());
      return out;
    }
    dy = nnAsDims(dy, g.y);
    x = nnAsDims(x, g.x);
    std::pair<BufPtr, BufPtr> r;
    if (g.t == dt::bf16) {
      r = convBwdWeiBf16(g, bias, x, dy);
    } else {
      const Algo a = chooseAlgo(
          "backwardWeights", g, bias, [&](Algo c) { return bwdWeiEntry(g, bias, c) != nullptr; },
          [&](Algo c) {
            auto rr = runBwdWei(*bwdWeiEntry(g, bias, c), x, dy, bias);
            if (c != Algo::Direct) layoutPenalty(rr.first, bwdWeiEntry(g, bias, Algo::Direct)->diffWei);
          },
          [&](Algo c) { return std::string(bwdWeiEntry(g, bias, c)->pd.impl_info_str()); });
      r = runBwdWei(*bwdWeiEntry(g, bias, a), x, dy, bias);
    }
    BufPtr dw = r.first;  // float32 (also for bf16 data)
    if (g.groups > 1) {
      // Bring the grouped gradient back to plain goihw = plain [O, C/g, KH, KW] bytes.
      auto plain = reorderTo(dw, plainDesc(g.weightDims(), dw->dataType()));
      dw = reinterpret(plain, plainDesc(g.w, dw->dataType()));
    }
    out.Set(0u, wrap(info.Env(), convertType(dw, g.t)));
    out.Set(1u, bias ? wrap(info.Env(), convertType(toPlain(r.second), g.t)) : info.Env().Null());
    return out;
  });
}

// convImpl(xDims, wDims, yDims, stride, padding, dilation, groups, dtype?) -> implementation names
// of the direct forward / backward-data / backward-weights primitives (for dtype 'bfloat16':
// oneDNN's bf16 ones, null where oneDNN has none here, with `bf16Reason`), and `winograd`: the
// Winograd ones (or why there are none), for benchmarks and debugging. Creates descriptors only
// (cached).
Napi::Value ConvImpl(const Napi::CallbackInfo& info) {
  return guarded(info, "convImpl", [&]() -> Napi::Value {
    auto g = readGeom(info, 3, toDims(info[0]), toDims(info[1]), toDims(info[2]));
    if (info.Length() > 7 && info[7].IsString() && info[7].As<Napi::String>().Utf8Value() == "bfloat16") g.t = dt::bf16;
    auto env = info.Env();
    auto* f = fwdEntry(g, false, Algo::Direct);
    auto* d = bwdDataEntry(g, Algo::Direct);
    auto* w = bwdWeiEntry(g, false, Algo::Direct);
    auto o = Napi::Object::New(env);
    auto name = [&](const auto* e) { return e ? Napi::Value(Napi::String::New(env, e->pd.impl_info_str())) : env.Null(); };
    o.Set("dtype", dtName(g.t));
    o.Set("forward", name(f));
    o.Set("backwardData", name(d));
    o.Set("backwardWeights", name(w));
    if (g.t == dt::bf16) o.Set("bf16Reason", f && d && w ? "" : noBf16Why(nullptr));
    if (f) {
      o.Set("src", mdKey(f->src));
      o.Set("weights", mdKey(f->wei));
      o.Set("dst", mdKey(f->dst));
    }
    // The largest of the three directions' scratchpads (bytes of the shared buffer they need).
    size_t sp = 0;
    if (f) sp = std::max(sp, f->pd.scratchpad_desc().get_size());
    if (d) sp = std::max(sp, d->pd.scratchpad_desc().get_size());
    if (w) sp = std::max(sp, w->pd.scratchpad_desc().get_size());
    o.Set("scratchpad", Napi::Number::New(env, static_cast<double>(sp)));
    auto wo = Napi::Object::New(env);
    auto* wf = fwdEntry(g, false, Algo::Winograd);
    auto* wdd = bwdDataEntry(g, Algo::Winograd);
    auto* ww = bwdWeiEntry(g, false, Algo::Winograd);
    const std::string issue = winogradShapeIssue(g);
    wo.Set("reason", issue.empty() ? (wf ? "" : noWinogradHere()) : issue.c_str());
    wo.Set("forward", wf ? Napi::Value(Napi::String::New(env, wf->pd.impl_info_str())) : env.Null());
    wo.Set("backwardData", wdd ? Napi::Value(Napi::String::New(env, wdd->pd.impl_info_str())) : env.Null());
    wo.Set("backwardWeights", ww ? Napi::Value(Napi::String::New(env, ww->pd.impl_info_str())) : env.Null());
    if (wf) {
      wo.Set("src", mdKey(wf->src));
      wo.Set("weights", mdKey(wf->wei));
      wo.Set("dst", mdKey(wf->dst));
    }
    o.Set("winograd", wo);
    return o;
  });
}

Mode parseMode(const Napi::Value& v) {
  const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string("(not a string)");
  if (s == "auto") return Mode::Auto;
  if (s == "direct") return Mode::Direct;
  if (s == "winograd") return Mode::Winograd;
  throw std::runtime_error("the convolution algorithm must be 'auto', 'direct' or 'winograd', got '" + s + "'");
}

// setConvAlgo('auto' | 'direct' | 'winograd') -> the previous mode. Choices made under another
// mode stay cached for it (switching back does not measure again).
Napi::Value SetConvAlgo(const Napi::CallbackInfo& info) {
  return guarded(info, "setConvAlgo", [&]() -> Napi::Value {
    const Mode m = parseMode(info[0]);
    const Mode prev = g_mode;
    g_mode = m;
    return Napi::String::New(info.Env(), modeName(prev));
  });
}

// getConvAlgo() -> the current mode.
Napi::Value GetConvAlgo(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), modeName(g_mode)); }

Napi::Array dimsArray(Napi::Env env, const dims& d) {
  auto a = Napi::Array::New(env, d.size());
  for (size_t i = 0; i < d.size(); ++i) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(d[i])));
  return a;
}

// convAlgos() -> { mode, measurements, choices: [{ direction, x, w, y, stride, padding, dilation,
//   groups, bias, mode, algorithm, measured, ms: { direct, winograd } (null when not timed), reason,
//   impl }] } with the choices in order of creation; `measurements` counts the choices made by
//   timing since the last reset.
Napi::Value ConvAlgos(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto out = Napi::Array::New(env, g_choices.size());
  for (size_t i = 0; i < g_choices.size(); ++i) {
    const Choice& c = g_choices[i];
    auto o = Napi::Object::New(env);
    o.Set("direction", c.direction);
    o.Set("x", dimsArray(env, c.g.x));
    o.Set("w", dimsArray(env, c.g.w));
    o.Set("y", dimsArray(env, c.g.y));
    o.Set("stride", dimsArray(env, c.g.stride));
    o.Set("padding", dimsArray(env, c.g.padL));
    o.Set("dilation", dimsArray(env, {c.g.dil[0] + 1, c.g.dil[1] + 1}));
    o.Set("groups", Napi::Number::New(env, static_cast<double>(c.g.groups)));
    o.Set("dtype", dtName(c.g.t));
    o.Set("bias", Napi::Boolean::New(env, c.bias));
    o.Set("mode", modeName(c.mode));
    o.Set("algorithm", algoName(c.algo));
    o.Set("measured", Napi::Boolean::New(env, c.measured));
    auto ms = Napi::Object::New(env);
    for (int a = 0; a < kAlgos; ++a)
      ms.Set(algoName(static_cast<Algo>(a)), c.ms[a] < 0 ? env.Null() : Napi::Value(Napi::Number::New(env, c.ms[a])));
    o.Set("ms", ms);
    o.Set("reason", c.reason);
    o.Set("impl", c.impl);
    out.Set(static_cast<uint32_t>(i), o);
  }
  auto r = Napi::Object::New(env);
  r.Set("mode", modeName(g_mode));
  r.Set("measurements", Napi::Number::New(env, static_cast<double>(g_measurements)));
  r.Set("choices", out);
  return r;
}

// resetConvAlgos(): forgets every cached choice (the primitives stay cached); the next call of each
// geometry chooses again (measuring in 'auto' mode).
Napi::Value ResetConvAlgos(const Napi::CallbackInfo& info) {
  g_choices.clear();
  g_choiceIndex.clear();
  g_measurements = 0;
  return info.Env().Undefined();
}

}  // namespace

void InitConv(Napi::Env env, Napi::Object exports) {
  exports.Set("conv2d", Napi::Function::New(env, Conv2d));
  exports.Set("conv2dBackwardData", Napi::Function::New(env, Conv2dBackwardData));
  exports.Set("conv2dBackwardWeights", Napi::Function::New(env, Conv2dBackwardWeights));
  exports.Set("convImpl", Napi::Function::New(env, ConvImpl));
  exports.Set("setConvAlgo", Napi::Function::New(env, SetConvAlgo));
  exports.Set("getConvAlgo", Napi::Function::New(env, GetConvAlgo));
  exports.Set("convAlgos", Napi::Function::New(env, ConvAlgos));
  exports.Set("resetConvAlgos", Napi::Function::New(env, ResetConvAlgos));
}

}  // namespace cn
