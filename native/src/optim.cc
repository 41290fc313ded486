// Fused optimizer updates: torch.optim.SGD and Adam/AdamW for a whole parameter group in one call,
// in place on the parameters and the optimizer state (src/backend/kernels.ts: sgdStep, adamStep).
//
// One pass over each parameter's memory instead of PyTorch's chain of tensor ops (the chain the
// optimizers ran before: 4-10 kernel calls and as many temporaries per parameter). The arithmetic
// follows torch's CPU single-tensor path op by op, in float32 with its float32 hyperparameters
// (torch converts Python scalars to the tensor's dtype): e.g. Adam's
//   exp_avg.mul_(beta1).add_(grad, alpha=1-beta1); exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1-beta2)
//   denom = (exp_avg_sq.sqrt() / sqrt(bc2)).add_(eps); param.addcdiv_(exp_avg, denom, -lr/bc1)
// is computed here in that order. Results agree with torch and with the reference backend to a few
// float32 ulps (an fma may round once where torch rounds twice; see simd.h).
//
// Layouts: parameters and state are updated in the parameter's own layout (plain, or a dense
// blocked one); a gradient in another layout (a conv's blocked dw) is reordered to it first. Any
// operand in a layout that cannot be updated directly (a zero-padded blocked parameter, state in
// another layout than its parameter) is staged through a copy and written back, so no call fails
// on a layout and a padded tail stays zero.
//
// Parallelism: the elements of the whole group form one index space split over the OpenMP team
// (small biases and large weights balance out); the loops are vectorised and multiversioned.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "general.h"
#include "simd.h"

namespace cn {

using namespace gen;

namespace {

/** SGD hyperparameters as float32 (torch's conversion of the Python floats). */
struct SgdF {
  float wd, momentum, damp1, negLr;  // damp1 = 1 - dampening
  bool nesterov, maximize, useWd, useMomentum;
};

/** Adam hyperparameters as float32, bias corrections folded in as torch folds them. */
struct AdamF {
  float wd, decay, b1, omb1, b2, omb2, bc2s, eps, negStep;  // decay = 1 - lr * wd (AdamW)
  bool decoupled, maximize, useWd;
};

// One SGD update over n elements. `first`: the momentum buffer is new (buf = d).
CN_SIMD void sgdRange(float* __restrict p, const float* __restrict g, float* __restrict buf, int64_t n,
                      const SgdF& h, bool first) {
  const float wd = h.wd, mom = h.momentum, damp1 = h.damp1, negLr = h.negLr;
  const float sgn = h.maximize ? -1.f : 1.f;
  if (!h.useMomentum) {
    for (int64_t i = 0; i < n; ++i) {
      float d = sgn * g[i];
      if (h.useWd) d = d + wd * p[i];
      p[i] = p[i] + negLr * d;
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    float d = sgn * g[i];
    if (h.useWd) d = d + wd * p[i];
    float b;
    if (first) {
      b = d;
    } else {
      b = buf[i] * mom;  // buf.mul_(momentum) rounds here
      b = b + damp1 * d;
    }
    buf[i] = b;
    const float step = h.nesterov ? d + mom * b : b;
    p[i] = p[i] + negLr * step;
  }
}

// One Adam/AdamW update over n elements.
CN_SIMD void adamRange(float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v,
                       int64_t n, const AdamF& h) {
  const float sgn = h.maximize ? -1.f : 1.f;
  for (int64_t i = 0; i < n; ++i) {
    float gi = sgn * g[i];
    float pi = p[i];
    if (h.decoupled) {
      if (h.useWd) pi = pi * h.decay;
    } else if (h.useWd) {
      gi = gi + h.wd * pi;
    }
    float mi = m[i] * h.b1;
    mi = mi + h.omb1 * gi;
    float vi = v[i] * h.b2;
    vi = vi + (h.omb2 * gi) * gi;
    const float denom = std::sqrt(vi) / h.bc2s + h.eps;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi + (h.negStep * mi) / denom;
  }
}

/** Pointers of one parameter's update (null when unused). */
struct Segment {
  float* p;
  const float* g;
  float* a;  // momentum buffer / exp_avg
  float* b;  // exp_avg_sq
  int64_t n;
  bool first;
};

/**
 * Runs `f(segment, offset, count)` over the concatenation of the segments' elements, split evenly
 * over the team (one parallel region per group).
 */
template <class F>
void overSegments(const std::vector<Segment>& segs, F&& f) {
  std::vector<int64_t> start(segs.size() + 1, 0);
  for (size_t i = 0; i < segs.size(); ++i) start[i + 1] = start[i] + segs[i].n;
  const int64_t total = start.back();
  parallelFor(total, [&](int64_t lo, int64_t hi) {
    size_t s = static_cast<size_t>(std::upper_bound(start.begin(), start.end(), lo) - start.begin()) - 1;
    for (int64_t at = lo; at < hi && s < segs.size(); ++s) {
      const int64_t off = at - start[s];
      const int64_t cnt = std::min(hi, start[s + 1]) - at;
      if (cnt > 0) f(segs[s], off, cnt);
      at += cnt;
    }
  });
}

/** "[4, 3]". */
std::string fmtShape(const dims& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

/** True when a and b store the same logical elements at the same offsets. */
bool sameOrder(const memory::desc& a, const memory::desc& b) {
  return a == b || (plainMd(a) && plainMd(b));
}

/**
 * An operand updated in place: either the Buf's own memory, or a staged copy in the working
 * layout that is written back by `commit`.
 */
struct InPlace {
  BufPtr target;  // the storage the caller owns
  BufPtr work;    // what the kernel writes (== target when no staging)
  dims shape;

  float* data() const { return work->f32(); }
  void commit() const {
    if (work == target) return;
    if (plainMd(target->md)) {
      auto src = plainOf(work);
      std::memcpy(target->data.get(), src->data.get(), static_cast<size_t>(src->numel()) * 4);
      return;
    }
    if (target->md.dims() != work->md.dims()) {
      throw std::runtime_error("optimizer state with logical dims " + fmtShape(target->md.dims()) +
                               " in a blocked layout cannot take an update of shape " + fmtShape(shape));
    }
    auto src = work->mem();
    auto dst = target->mem();
    SerialScope serial(work->numel() <= kParallelMin);
    dnnl::reorder(src, dst).execute(stream(), src, dst);
    stream().wait();
  }
};

InPlace inPlace(const BufPtr& b, const memory::desc& W, const dims& shape) {
  InPlace ip{b, b, shape};
  if (!sameOrder(b->md, W)) ip.work = reorderInto(asDims(b, shape), W);
  if (ip.work == b && !sameOrder(b->md, W)) throw std::runtime_error("internal error: staging failed");
  return ip;
}

/** The working layout of a parameter: its own if it can be updated directly, else plain. */
memory::desc workingLayout(const BufPtr& p, const dims& shape) {
  if (plainMd(p->md)) return p->md;
  if (isDense(p->md) && p->md.dims() == shape) return p->md;
  return plainDesc(shape, dt::f32);
}

/** A read-only operand (the gradient) in the working layout. */
BufPtr readIn(const BufPtr& b, const memory::desc& W, const dims& shape) {
  if (sameOrder(b->md, W)) return b;
  return reorderInto(asDims(b, shape), W);
}

/** Reads the JS list `info[at]` of handles (null entries allowed when `nullable`). */
std::vector<BufPtr> handles(const Napi::CallbackInfo& info, int at, const char* what, bool nullable) {
  if (!info[at].IsArray()) throw std::runtime_error(std::string(what) + "s must be an array of tensor handles");
  auto a = info[at].As<Napi::Array>();
  std::vector<BufPtr> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    const std::string name = std::string(what) + " " + std::to_string(i);
    out[i] = nullable ? unwrapOpt(a.Get(i), name.c_str()) : unwrap(a.Get(i), name.c_str());
  }
  return out;
}

double num(const Napi::Object& h, const char* key, const char* op) {
  auto v = h.Get(key);
  if (!v.IsNumber()) throw std::runtime_error(std::string("hyperparameter '") + key + "' must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

bool flag(const Napi::Object& h, const char* key, const char* op) {
  auto v = h.Get(key);
  if (!v.IsBoolean()) throw std::runtime_error(std::string("hyperparameter '") + key + "' must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

/** Checks the lists of one call and returns the shapes. */
std::vector<dims> checkGroup(const char* op, const Napi::Value& shapesV, const std::vector<BufPtr>& params,
                             const std::vector<const std::vector<BufPtr>*>& others,
                             const std::vector<const char*>& otherNames) {
  if (!shapesV.IsArray()) throw std::runtime_error("shapes must be an array");
  auto sa = shapesV.As<Napi::Array>();
  if (sa.Length() != params.size())
    throw std::runtime_error(std::to_string(params.size()) + " parameters but " + std::to_string(sa.Length()) + " shapes");
  for (size_t k = 0; k < others.size(); ++k)
    if (others[k]->size() != params.size())
      throw std::runtime_error(std::to_string(params.size()) + " parameters but " + std::to_string(others[k]->size()) +
                               " " + otherNames[k] + "s");
  std::vector<dims> shapes(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    shapes[i] = normDims(toDims(sa.Get(static_cast<uint32_t>(i))));
    const int64_t n = prodOf(shapes[i]);
    auto check = [&](const BufPtr& b, const char* what) {
      if (!b) return;
      if (b->dataType() != dt::f32)
        throw std::runtime_error(std::string(what) + " " + std::to_string(i) + " is not float32");
      if (b->numel() != n)
        throw std::runtime_error(std::string(what) + " " + std::to_string(i) + " has " + std::to_string(b->numel()) +
                                 " elements, its shape " + fmtShape(shapes[i]) + " needs " + std::to_string(n));
    };
    check(params[i], "parameter");
    for (size_t k = 0; k < others.size(); ++k) check((*others[k])[i], otherNames[k]);
  }
  return shapes;
}

// sgdStep(params[], grads[], bufs[] (null = first step), shapes[], h) -> a new buffer handle where
// the input was null, null where it was given ([] when momentum is 0). h: { lr, momentum, dampening, weightDecay, nesterov,
// maximize }.
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  return guarded(info, "sgdStep", [&]() -> Napi::Value {
    auto params = handles(info, 0, "parameter", false);
    auto grads = handles(info, 1, "grad", false);
    auto bufs = handles(info, 2, "momentum buffer", true);
    if (!info[4].IsObject()) throw std::runtime_error("hyperparameters must be an object");
    auto ho = info[4].As<Napi::Object>();
    const double lr = num(ho, "lr", "sgdStep"), momentum = num(ho, "momentum", "sgdStep"),
                 dampening = num(ho, "dampening", "sgdStep"), wd = num(ho, "weightDecay", "sgdStep");
    SgdF h{static_cast<float>(wd), static_cast<float>(momentum), static_cast<float>(1.0 - dampening),
           static_cast<float>(-lr), flag(ho, "nesterov", "sgdStep"), flag(ho, "maximize", "sgdStep"),
           wd != 0.0, momentum != 0.0};
    const bool useBufs = h.useMomentum;
    if (!useBufs) bufs.assign(params.size(), nullptr);
    auto shapes = checkGroup("sgdStep", info[3], params, {&grads, &bufs}, {"grad", "momentum buffer"});

    std::vector<InPlace> stage;
    std::vector<BufPtr> keep;  // read-only copies alive until the update ran
    std::vector<BufPtr> outBufs(params.size());
    std::vector<Segment> segs;
    stage.reserve(params.size() * 2);
    for (size_t i = 0; i < params.size(); ++i) {
      const int64_t n = prodOf(shapes[i]);
      const memory::desc W = workingLayout(params[i], shapes[i]);
      if (n == 0) {
        if (useBufs) outBufs[i] = bufs[i] ? bufs[i] : allocBuf(W);
        continue;
      }
      stage.push_back(inPlace(params[i], W, shapes[i]));
      float* p = stage.back().data();
      auto g = readIn(grads[i], W, shapes[i]);
      keep.push_back(g);
      float* b = nullptr;
      bool first = false;
      if (useBufs) {
        if (bufs[i]) {
          stage.push_back(inPlace(bufs[i], W, shapes[i]));
          b = stage.back().data();
          outBufs[i] = bufs[i];
        } else {
          outBufs[i] = allocBuf(W);
          b = outBufs[i]->f32();
          first = true;
        }
      }
      segs.push_back({p, g->f32(), b, nullptr, n, first});
    }
    overSegments(segs, [&](const Segment& s, int64_t off, int64_t cnt) {
      sgdRange(s.p + off, s.g + off, s.a ? s.a + off : nullptr, cnt, h, s.first);
    });
    for (auto& st : stage) st.commit();
    // New buffers as new handles; null where the caller's buffer was updated (it keeps its handle:
    // a second handle to the same memory would keep it alive past the caller's dispose)
    auto out = Napi::Array::New(info.Env(), useBufs ? params.size() : 0);
    if (useBufs)
      for (size_t i = 0; i < params.size(); ++i)
        out.Set(static_cast<uint32_t>(i), bufs[i] ? info.Env().Null() : wrap(info.Env(), outBufs[i]));
    return out;
  });
}

// adamStep(params[], grads[], expAvg[], expAvgSq[], shapes[], h) -> undefined. h: { lr, beta1,
// beta2, eps, weightDecay, decoupled, maximize, step }.
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  return guarded(info, "adamStep", [&]() -> Napi::Value {
    auto params = handles(info, 0, "parameter", false);
    auto grads = handles(info, 1, "grad", false);
    auto ms = handles(info, 2, "expAvg", false);
    auto vs = handles(info, 3, "expAvgSq", false);
    if (!info[5].IsObject()) throw std::runtime_error("hyperparameters must be an object");
    auto ho = info[5].As<Napi::Object>();
    const double lr = num(ho, "lr", "adamStep"), beta1 = num(ho, "beta1", "adamStep"),
                 beta2 = num(ho, "beta2", "adamStep"), eps = num(ho, "eps", "adamStep"),
                 wd = num(ho, "weightDecay", "adamStep"), step = num(ho, "step", "adamStep");
    if (!(step >= 1)) throw std::runtime_error("step must be >= 1 (the first update is step 1)");
    // As torch: bias corrections and the step size in double, then float32 at the tensor op.
    const double bc1 = 1.0 - std::pow(beta1, step), bc2 = 1.0 - std::pow(beta2, step);
    AdamF h{static_cast<float>(wd),
            static_cast<float>(1.0 - lr * wd),
            static_cast<float>(beta1),
            static_cast<float>(1.0 - beta1),
            static_cast<float>(beta2),
            static_cast<float>(1.0 - beta2),
            static_cast<float>(std::sqrt(bc2)),
            static_cast<float>(eps),
            static_cast<float>(-(lr / bc1)),
            flag(ho, "decoupled", "adamStep"),
            flag(ho, "maximize", "adamStep"),
            wd != 0.0};
    auto shapes = checkGroup("adamStep", info[4], params, {&grads, &ms, &vs}, {"grad", "expAvg", "expAvgSq"});

    std::vector<InPlace> stage;
    std::vector<BufPtr> keep;
    std::vector<Segment> segs;
    stage.reserve(params.size() * 3);
    for (size_t i = 0; i < params.size(); ++i) {
      const int64_t n = prodOf(shapes[i]);
      if (n == 0) continue;
      const memory::desc W = workingLayout(params[i], shapes[i]);
      stage.push_back(inPlace(params[i], W, shapes[i]));
      float* p = stage.back().data();
      stage.push_back(inPlace(ms[i], W, shapes[i]));
      float* m = stage.back().data();
      stage.push_back(inPlace(vs[i], W, shapes[i]));
      float* v = stage.back().data();
      auto g = readIn(grads[i], W, shapes[i]);
      keep.push_back(g);
      segs.push_back({p, g->f32(), m, v, n, false});
    }
    overSegments(segs, [&](const Segment& s, int64_t off, int64_t cnt) {
      adamRange(s.p + off, s.g + off, s.a + off, s.b + off, cnt, h);
    });
    for (auto& st : stage) st.commit();
    return info.Env().Undefined();
  });
}

}  // namespace

void InitOptim(Napi::Env env, Napi::Object exports) {
  exports.Set("sgdStep", Napi::Function::New(env, SgdStep));
  exports.Set("adamStep", Napi::Function::New(env, AdamStep));
}

}  // namespace cn
