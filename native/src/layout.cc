// Layout kernels: reshape (zero-copy on plain data), permute / slice / pad (oneDNN reorders between
// strided descriptors, any input layout, f32, bf16 and int32), cat (slab copies; channel concatenation
// of 4-D inputs keeps a blocked layout when the channel offsets are block-aligned), indexSelect / indexAdd / gatherRows /
// scatterRows (OpenMP loops on plain data). Loops and reorders of up to kParallelMin elements run
// serially (general.h).
#include <algorithm>
#include <cstring>

#include "dtype.h"
#include "general.h"

namespace cn {
using namespace gen;

namespace {

/** A new Buf sharing `b`'s memory with a plain descriptor of dims `d` (b must be plain). */
BufPtr view(const BufPtr& b, const dims& d) {
  auto v = std::make_shared<Buf>();
  v->data = b->data;
  v->md = plainDesc(d, b->dataType());
  return v;
}

/** Runs a reorder from (srcMd over src's memory) to (dstMd over dst's memory). */
void reorderRaw(const memory::desc& srcMd, void* src, const memory::desc& dstMd, void* dst) {
  // small copies run on this thread (the decision depends only on the dims, which the key holds)
  SerialScope serial(prodOf(srcMd.dims()) <= kParallelMin);
  memory s(srcMd, engine(), src), d(dstMd, engine(), dst);
  std::string key("gen.reorder:");  // keyMd includes offset0 (submemory descriptors differ there)
  keyMd(key, srcMd);
  keyMd(key, dstMd);
  auto& prim = cached<dnnl::reorder>(key, [&]() { return dnnl::reorder(s, d); });
  prim.execute(stream(), s, d);
  stream().wait();
}

dims rowMajorStrides(const dims& d) {
  dims s(d.size());
  int64_t st = 1;
  for (int i = static_cast<int>(d.size()) - 1; i >= 0; --i) {
    s[i] = st;
    st *= d[i];
  }
  return s;
}


/**
 * Concatenates `parts` along `axis` in the layout family of `refMd` (plain or blocked) by copying
 * contiguous slabs: the layout is an outer row-major array (dims ordered by stride) of inner
 * blocks, so each input contributes one slab per index of the dims outside `axis`. Returns false
 * (parts untouched) when a channel offset is not a multiple of the block. On success parts[0] is
 * replaced by the result.
 */
bool concatByCopy(std::vector<BufPtr>& parts, const memory::desc& refMd, int axis, const dims& outDims) {
  const auto& c = refMd.data;
  const int nd = c.ndims;
  const auto& bd = c.format_desc.blocking;
  int64_t blk[DNNL_MAX_NDIMS], inner = 1;
  for (int i = 0; i < nd; ++i) blk[i] = 1;
  for (int i = 0; i < bd.inner_nblks; ++i) {
    blk[bd.inner_idxs[i]] *= bd.inner_blks[i];
    inner *= bd.inner_blks[i];
  }
  for (size_t i = 0; i + 1 < parts.size(); ++i)
    if (parts[i]->md.dims()[axis] % blk[axis] != 0) return false;
  const memory::desc outMd = likeLayout(refMd, outDims);
  std::vector<BufPtr> srcs;
  for (auto& p : parts) srcs.push_back(reorderInto(p, likeLayout(refMd, p->md.dims())));
  // stride order of outMd (outermost first); slab = product of outer sizes of dims inside `axis`
  const auto& os = outMd.data.format_desc.blocking.strides;
  const int64_t axisStride = os[axis];
  int64_t outer = 1;
  for (int i = 0; i < nd; ++i)
    if (i != axis && os[i] > axisStride) outer *= outMd.data.padded_dims[i] / blk[i];
  const size_t esz = dtSize(refMd.data_type());
  std::vector<int64_t> slab(srcs.size()), off(srcs.size());
  int64_t outSlab = 0;
  for (size_t i = 0; i < srcs.size(); ++i) {
    slab[i] = static_cast<int64_t>(srcs[i]->bytes() / esz) / outer * static_cast<int64_t>(esz);
    off[i] = outSlab;
    outSlab += slab[i];
  }
  auto y = allocBuf(outMd);
  if (static_cast<int64_t>(y->bytes()) != outSlab * outer) throw std::runtime_error("internal error: concat sizes");
  char* dst = y->data.get();
  const int64_t nsrc = static_cast<int64_t>(srcs.size());
  if (outer >= 64) {
    parallelFor(outer, outSlab * outer / static_cast<int64_t>(esz), [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o)
        for (int64_t i = 0; i < nsrc; ++i)
          std::memcpy(dst + o * outSlab + off[i], srcs[i]->data.get() + o * slab[i], slab[i]);
    });
  } else {
    // few large slabs: copy them in pieces of at most 1 MiB in parallel
    struct Seg {
      char* d;
      const char* s;
      int64_t n;
    };
    std::vector<Seg> segs;
    const int64_t piece = 1 << 20;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < nsrc; ++i)
        for (int64_t b = 0; b < slab[i]; b += piece)
          segs.push_back({dst + o * outSlab + off[i] + b, srcs[i]->data.get() + o * slab[i] + b,
                          std::min(piece, slab[i] - b)});
    const int64_t ns = static_cast<int64_t>(segs.size());
    parallelFor(ns, outSlab * outer / static_cast<int64_t>(esz), [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) std::memcpy(segs[k].d, segs[k].s, segs[k].n);
    });
  }
  parts.assign(1, y);
  return true;
}

/**
 * True when a permute/slice/pad of `x` moves its values in float32 (exact) instead of oneDNN's
 * reorders on bf16, which are reference loops without AVX-512 (see jitBf16Reorders).
 */
bool viaF32(const BufPtr& x) { return x->dataType() == dt::bf16 && !jitBf16Reorders(); }

// reshape(x, newShape) -> handle sharing memory (a plain copy first when x is blocked)
Napi::Value Reshape(const Napi::CallbackInfo& info) {
  return guarded(info, "reshape", [&]() -> Napi::Value {
    auto x = unwrap(info[0], "reshape");
    dims nd = toDims(info[1]);
    if (prodOf(nd) != x->numel()) throw std::runtime_error("element count mismatch");
    return wrap(info.Env(), view(plainOf(x), nd));
  });
}

// permute(x, shape, perm) -> handle (plain)
Napi::Value Permute(const Napi::CallbackInfo& info) {
  return guarded(info, "permute", [&]() -> Napi::Value {
    const dims shape = toDims(info[1]);
    auto perm = toInts(info[2]);
    const size_t r = shape.size();
    if (perm.size() != r) throw std::runtime_error("perm has the wrong length");
    dims outDims(r);
    for (size_t k = 0; k < r; ++k) outDims[k] = shape[perm[k]];
    auto x0 = asDims(unwrap(info[0], "permute"), shape);
    const bool via32 = viaF32(x0);
    auto x = via32 ? widen(x0) : x0;
    auto y = allocPlain(outDims, x->dataType());
    auto out = [&]() { return wrap(info.Env(), via32 ? narrow(y) : y); };
    if (r == 0 || prodOf(shape) == 0) {
      if (r == 0) std::memcpy(y->data.get(), plainOf(x)->data.get(), dtSize(x->dataType()));
      return out();
    }
    // x's logical dims written with strides that make the destination buffer row-major in outDims
    const dims os = rowMajorStrides(outDims);
    dims xs(r);
    for (size_t k = 0; k < r; ++k) xs[perm[k]] = os[k];
    reorderRaw(x->md, x->data.get(), memory::desc(shape, x->dataType(), xs), y->data.get());
    return out();
  });
}

// slice(x, shape, starts, outShape) -> handle (plain)
Napi::Value Slice(const Napi::CallbackInfo& info) {
  return guarded(info, "slice", [&]() -> Napi::Value {
    const dims shape = normDims(toDims(info[1]));
    dims starts = toDims(info[2]);
    const dims outDims = normDims(toDims(info[3]));
    if (starts.empty()) starts = {0};
    if (starts.size() != shape.size() || outDims.size() != shape.size())
      throw std::runtime_error("rank mismatch");
    for (size_t i = 0; i < shape.size(); ++i)
      if (starts[i] < 0 || outDims[i] < 0 || starts[i] + outDims[i] > shape[i])
        throw std::runtime_error("slice out of range");
    auto x0 = unwrap(info[0], "slice");
    const bool via32 = viaF32(x0);
    auto x = plainOf(asDims(via32 ? widen(x0) : x0, shape));
    auto y = allocPlain(outDims, x->dataType());
    if (y->numel() > 0) reorderRaw(x->md.submemory_desc(outDims, starts), x->data.get(), y->md, y->data.get());
    return wrap(info.Env(), via32 ? narrow(y) : y);
  });
}

// pad(dy, shape, starts, fullShape) -> handle (plain; zeros with dy written at starts)
Napi::Value Pad(const Napi::CallbackInfo& info) {
  return guarded(info, "pad", [&]() -> Napi::Value {
    const dims shape = normDims(toDims(info[1]));
    dims starts = toDims(info[2]);
    const dims full = normDims(toDims(info[3]));
    if (starts.empty()) starts = {0};
    if (starts.size() != shape.size() || full.size() != shape.size())
      throw std::runtime_error("rank mismatch");
    for (size_t i = 0; i < shape.size(); ++i)
      if (starts[i] < 0 || starts[i] + shape[i] > full[i]) throw std::runtime_error("pad out of range");
    auto dy0 = unwrap(info[0], "pad");
    const bool via32 = viaF32(dy0);
    auto dy = asDims(via32 ? widen(dy0) : dy0, shape);
    auto y = allocPlain(full, dy->dataType(), true);
    if (dy->numel() > 0) reorderRaw(dy->md, dy->data.get(), y->md.submemory_desc(shape, starts), y->data.get());
    return wrap(info.Env(), via32 ? narrow(y) : y);
  });
}

// cat(xs, shapes, axis) -> handle
Napi::Value Cat(const Napi::CallbackInfo& info) {
  return guarded(info, "cat", [&]() -> Napi::Value {
    auto arr = info[0].As<Napi::Array>();
    auto shapesArr = info[1].As<Napi::Array>();
    int64_t axis = info[2].As<Napi::Number>().Int64Value();
    const uint32_t n = arr.Length();
    if (n == 0 || shapesArr.Length() != n) throw std::runtime_error("expected inputs and matching shapes");
    std::vector<BufPtr> xs;
    std::vector<dims> shapes;
    for (uint32_t i = 0; i < n; ++i) {
      xs.push_back(unwrap(arr.Get(i), "cat"));
      shapes.push_back(normDims(toDims(shapesArr.Get(i))));
    }
    const int nd = static_cast<int>(shapes[0].size());
    if (axis < 0) axis += nd;
    if (axis < 0 || axis >= nd) throw std::runtime_error("axis out of range");
    dims outDims = shapes[0];
    outDims[axis] = 0;
    const dt t = xs[0]->dataType();
    std::vector<BufPtr> parts;
    for (uint32_t i = 0; i < n; ++i) {
      if (static_cast<int>(shapes[i].size()) != nd) throw std::runtime_error("rank mismatch");
      for (int d = 0; d < nd; ++d)
        if (d != axis && shapes[i][d] != shapes[0][d]) throw std::runtime_error("shape mismatch");
      if (xs[i]->dataType() != t) throw std::runtime_error("dtype mismatch");
      outDims[axis] += shapes[i][axis];
      if (prodOf(shapes[i]) > 0) parts.push_back(asDims(xs[i], shapes[i]));
    }
    if (prodOf(outDims) == 0 || parts.empty()) return wrap(info.Env(), allocPlain(outDims, t));
    if (parts.size() == 1) return wrap(info.Env(), std::make_shared<Buf>(*parts[0]));

    // Channel concatenation of 4-D inputs with one of them blocked: the others are brought to the
    // same blocking and the output keeps it (DenseNet's concatenations of nChw16c maps stay
    // blocked) as long as every channel offset is a multiple of the channel block. Everything else
    // is concatenated on plain data.
    memory::desc refMd = plainDesc(parts[0]->md.dims(), t);
    if (nd == 4 && axis == 1) {
      for (auto& p : parts)
        if (!p->isPlain()) {
          refMd = p->md;
          break;
        }
    }
    if (!concatByCopy(parts, refMd, static_cast<int>(axis), outDims)) {
      refMd = plainDesc(parts[0]->md.dims(), t);
      if (!concatByCopy(parts, refMd, static_cast<int>(axis), outDims))
        throw std::runtime_error("internal error: plain concatenation failed");
    }
    return wrap(info.Env(), parts[0]);
  });
}

/** Reads and validates int32 indices in [0, limit). */
std::vector<int64_t> readIndex(const BufPtr& idxIn, int64_t n, int64_t limit, const char* what) {
  auto idx = plainOf(idxIn);
  if (idx->dataType() != dt::s32) idx = castTo(idx, dt::s32);
  if (idx->numel() < n) throw std::runtime_error(std::string(what) + " has fewer entries than expected");
  std::vector<int64_t> out(n);
  const int32_t* p = idx->s32();
  for (int64_t i = 0; i < n; ++i) {
    if (p[i] < 0 || p[i] >= limit)
      throw std::runtime_error(std::string(what) + " " + std::to_string(p[i]) + " out of range [0, " +
                               std::to_string(limit) + ")");
    out[i] = p[i];
  }
  return out;
}

void splitAt(const dims& shape, int64_t axis, int64_t& outer, int64_t& inner) {
  outer = inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= shape[i];
  for (size_t i = axis + 1; i < shape.size(); ++i) inner *= shape[i];
}

int64_t normAxis(int64_t axis, size_t nd) {
  if (axis < 0) axis += static_cast<int64_t>(nd);
  if (axis < 0 || axis >= static_cast<int64_t>(nd)) throw std::runtime_error("axis out of range");
  return axis;
}

// indexSelect(x, shape, axis, idx, n) -> handle (plain)
Napi::Value IndexSelect(const Napi::CallbackInfo& info) {
  return guarded(info, "indexSelect", [&]() -> Napi::Value {
    const dims shape = normDims(toDims(info[1]));
    const int64_t axis = normAxis(info[2].As<Napi::Number>().Int64Value(), shape.size());
    const int64_t n = info[4].As<Napi::Number>().Int64Value();
    auto x = plainOf(asDims(unwrap(info[0], "indexSelect"), shape));
    const int64_t A = shape[axis];
    auto idx = readIndex(unwrap(info[3], "indexSelect"), n, A, "index");
    dims outDims = shape;
    outDims[axis] = n;
    auto y = allocPlain(outDims, x->dataType());
    int64_t outer, inner;
    splitAt(shape, axis, outer, inner);
    const char* src = x->data.get();
    char* dst = y->data.get();
    const int64_t rows = outer * n, rb = inner * static_cast<int64_t>(dtSize(x->dataType()));
    parallelFor(rows, rows * inner, [&](int64_t u0, int64_t u1) {
      for (int64_t u = u0; u < u1; ++u) {
        const int64_t o = u / n, j = u % n;
        std::memcpy(dst + u * rb, src + (o * A + idx[j]) * rb, rb);
      }
    });
    return wrap(info.Env(), y);
  });
}

// indexAdd(dy, dyShape, axis, idx, outShape) -> handle (plain; float32, or bf16 for a bf16 dy:
// accumulated in float32, rounded once)
Napi::Value IndexAdd(const Napi::CallbackInfo& info) {
  return guarded(info, "indexAdd", [&]() -> Napi::Value {
    const dims dyShape = normDims(toDims(info[1]));
    const int64_t axis = normAxis(info[2].As<Napi::Number>().Int64Value(), dyShape.size());
    const dims outDims = normDims(toDims(info[4]));
    auto dy0 = unwrap(info[0], "indexAdd");
    const bool bf = dy0->dataType() == dt::bf16;
    auto dy = plainOf(asDims(castTo(dy0, dt::f32), dyShape));
    const int64_t n = dyShape[axis], A = outDims[axis];
    auto idx = readIndex(unwrap(info[3], "indexAdd"), n, A, "index");
    auto y = allocPlain(outDims, dt::f32, true);
    int64_t outer, inner;
    splitAt(dyShape, axis, outer, inner);
    const float* src = dy->f32();
    float* dst = y->f32();
    // parallel over (outer, inner chunk): different units never touch the same output element
    const int64_t CH = 1024, nch = (inner + CH - 1) / CH;
    parallelFor(outer * nch, outer * n * inner, [&](int64_t u0, int64_t u1) {
      for (int64_t u = u0; u < u1; ++u) {
        const int64_t o = u / nch, j0 = (u % nch) * CH, j1 = std::min(inner, j0 + CH);
        for (int64_t j = 0; j < n; ++j) {
          const float* s = src + (o * n + j) * inner;
          float* d = dst + (o * A + idx[j]) * inner;
          for (int64_t k = j0; k < j1; ++k) d[k] += s[k];
        }
      }
    });
    return wrap(info.Env(), bf ? narrow(y) : y);
  });
}

// gatherRows(x [N, C], shape, target [N]) -> handle [N]
Napi::Value GatherRows(const Napi::CallbackInfo& info) {
  return guarded(info, "gatherRows", [&]() -> Napi::Value {
    const dims shape = toDims(info[1]);
    if (shape.size() != 2) throw std::runtime_error("expected a 2-D input");
    const int64_t N = shape[0], C = shape[1];
    auto x = plainOf(asDims(unwrap(info[0], "gatherRows"), shape));
    auto t = readIndex(unwrap(info[2], "gatherRows"), N, C, "target");
    auto y = allocPlain({N}, x->dataType());
    const char* xs = x->data.get();  // elements copied bitwise
    char* ys = y->data.get();
    const size_t esz = dtSize(x->dataType());
    for (int64_t i = 0; i < N; ++i) std::memcpy(ys + i * esz, xs + (i * C + t[i]) * esz, esz);
    return wrap(info.Env(), y);
  });
}

// scatterRows(dy [N], shape [N, C], target [N]) -> handle [N, C]
Napi::Value ScatterRows(const Napi::CallbackInfo& info) {
  return guarded(info, "scatterRows", [&]() -> Napi::Value {
    const dims shape = toDims(info[1]);
    if (shape.size() != 2) throw std::runtime_error("expected a 2-D shape");
    const int64_t N = shape[0], C = shape[1];
    auto dy0 = unwrap(info[0], "scatterRows");
    // bf16 stays bf16 (values copied bitwise); int32 is written as float32
    const dt ty = dy0->dataType() == dt::bf16 ? dt::bf16 : dt::f32;
    auto dy = plainOf(asDims(castTo(dy0, ty), {N}));
    auto t = readIndex(unwrap(info[2], "scatterRows"), N, C, "target");
    auto y = allocPlain(shape, ty, true);
    const size_t esz = dtSize(ty);
    for (int64_t i = 0; i < N; ++i) std::memcpy(y->data.get() + (i * C + t[i]) * esz, dy->data.get() + i * esz, esz);
    return wrap(info.Env(), y);
  });
}

}  // namespace

void InitLayout(Napi::Env env, Napi::Object exports) {
  exports.Set("reshape", Napi::Function::New(env, Reshape));
  exports.Set("permute", Napi::Function::New(env, Permute));
  exports.Set("slice", Napi::Function::New(env, Slice));
  exports.Set("pad", Napi::Function::New(env, Pad));
  exports.Set("cat", Napi::Function::New(env, Cat));
  exports.Set("indexSelect", Napi::Function::New(env, IndexSelect));
  exports.Set("indexAdd", Napi::Function::New(env, IndexAdd));
  exports.Set("gatherRows", Napi::Function::New(env, GatherRows));
  exports.Set("scatterRows", Napi::Function::New(env, ScatterRows));
}

}  // namespace cn
