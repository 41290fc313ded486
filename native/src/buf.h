// Shared core of the convnet addon: the Buf (a tensor's memory plus its oneDNN memory descriptor),
// the engine/stream, layout helpers and a primitive cache. Kernel families live in their own .cc
// files and register their exports through the Init* functions declared at the bottom.
#pragma once

#include <napi.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace cn {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;
using dims = dnnl::memory::dims;

/** The CPU engine (one per process). */
dnnl::engine& engine();
/** The stream kernels run on; every primitive is executed and waited on synchronously. */
dnnl::stream& stream();

/**
 * Memory of one tensor. `md` is the PHYSICAL layout; `md.dims()` are the logical dims (NCHW order
 * for 4-D). A Buf is immutable once a kernel has returned it; reshape views share `data`.
 */
struct Buf {
  std::shared_ptr<char> data;  // 64-byte aligned; shared by reshape views
  memory::desc md;
  memory mem() const { return memory(md, engine(), data.get()); }
  size_t bytes() const { return md.get_size(); }
  dims logicalDims() const { return md.dims(); }
  int64_t numel() const;
  dt dataType() const { return md.data_type(); }
  /** True when the layout is dense row-major over the logical dims. */
  bool isPlain() const;
  float* f32() const { return reinterpret_cast<float*>(data.get()); }
  int32_t* s32() const { return reinterpret_cast<int32_t*>(data.get()); }
  uint16_t* bf16() const { return reinterpret_cast<uint16_t*>(data.get()); }
};
using BufPtr = std::shared_ptr<Buf>;

/** Row-major (abcd...) descriptor for `d`. */
memory::desc plainDesc(const dims& d, dt t = dt::f32);
/**
 * What an allocation holds, for the memory statistics: tensor data, or a oneDNN workspace (max-pool
 * argmax kept from forward to backward).
 */
enum class BufKind { Tensor = 0, Workspace = 1 };
/** Allocates a Buf for `md`. `zero` fills it with zeros (needed where kernels accumulate). */
BufPtr allocBuf(const memory::desc& md, bool zero = false, BufKind kind = BufKind::Tensor);
/** Allocates a plain f32 (or s32) Buf of dims `d`. */
BufPtr allocPlain(const dims& d, dt t = dt::f32, bool zero = false);
/** `b` itself if already row-major, otherwise a row-major copy (oneDNN reorder). */
BufPtr toPlain(const BufPtr& b);
/**
 * `b` itself if its descriptor equals `md`, otherwise a copy in `md`: converted element by element
 * when only the element type differs (float32 <-> bf16, see dtype.h), else reordered by oneDNN
 * (which converts types on the way).
 */
BufPtr reorderTo(const BufPtr& b, const memory::desc& md);
/** Total bytes currently allocated by allocBuf (live Bufs). */
int64_t bytesInUse();
/** Bytes of freed blocks kept by the caching allocator for reuse. */
int64_t bytesCached();
/** Returns every cached free block to the system. */
void emptyCache();

/**
 * Memory statistics of the addon (bytes), as PyTorch's torch.cuda.memory_stats: current values and
 * peaks since the last resetPeakMemoryStats(). `live` counts the memory of live Bufs (tensors and
 * workspaces, 64-byte rounded), `cached` the free blocks the caching allocator keeps, `reserved`
 * their sum (what the allocator holds from the system); `scratchpad` is the one buffer every oneDNN
 * primitive uses as its scratchpad (scratchpad_mode::user), `workspace` the live oneDNN workspaces.
 */
struct MemoryStats {
  int64_t live, peakLive, cached, peakCached, reserved, peakReserved;
  int64_t workspace, peakWorkspace, scratchpad, peakScratchpadRequest;
  int64_t allocations, cacheHits;
};
MemoryStats memoryStats();
/** Bytes of the scratchpad buffers (one per thread that ran a primitive; grown to the largest need). */
int64_t scratchpadBytes();
/** The largest scratchpad a primitive asked for since the last reset. */
int64_t scratchpadPeakRequest();
void resetScratchpadPeak();

/**
 * Attributes for every primitive the addon creates and caches: scratchpad_mode::user, so that no
 * cached primitive holds a scratchpad of its own for the life of the process (oneDNN's library
 * mode gives most CPU implementations a private one, allocated at creation); all of them share one
 * buffer instead, as PyTorch does, passed by `execute`.
 */
dnnl::primitive_attr primAttr();
/** Executes `p` (created with primAttr()) on the stream with the shared scratchpad, and waits. */
void execute(const dnnl::primitive& p, std::unordered_map<int, memory> args);
/** Peaks := current values (and the allocation counters to 0). */
void resetPeakMemoryStats();

// ---- N-API glue -----------------------------------------------------------------------------
/** Wraps a Buf as a JS External (the External's finalizer is only a backstop; JS calls dispose). */
Napi::Value wrap(Napi::Env env, BufPtr b);
/** The Buf behind a JS handle; throws a JS TypeError naming `what` if it is not a live Buf. */
BufPtr unwrap(const Napi::Value& v, const char* what);
/** Like unwrap, but null/undefined give nullptr. */
BufPtr unwrapOpt(const Napi::Value& v, const char* what);
/** A JS array of integers as dims. */
dims toDims(const Napi::Value& v);
/** A JS array of integers as int vector. */
std::vector<int64_t> toInts(const Napi::Value& v);
/** Throws a JS Error with `msg` (use for argument errors caught before calling oneDNN). */
[[noreturn]] void fail(Napi::Env env, const std::string& msg);

/** Key builder for the primitive cache: cacheKey("conv", dims..., md) etc. */
std::string mdKey(const memory::desc& md);
std::string dimsKey(const dims& d);

/**
 * Process-wide cache of primitive descriptors + primitives, keyed by a string that must encode
 * every parameter that shapes the primitive (dims, strides, layouts, flags).
 */
template <class T>
T& cached(const std::string& key, const std::function<T()>& make) {
  static std::unordered_map<std::string, std::unique_ptr<T>> cache;
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  auto p = std::make_unique<T>(make());
  T& ref = *p;
  cache.emplace(key, std::move(p));
  return ref;
}

/**
 * Like `cached`, for entries that may not exist: `make` returns null (e.g. a primitive oneDNN does
 * not implement for this CPU), which is cached too, so oneDNN is asked once.
 */
template <class T>
T* cachedOpt(const std::string& key, const std::function<std::unique_ptr<T>()>& make) {
  static std::unordered_map<std::string, std::unique_ptr<T>> cache;
  auto it = cache.find(key);
  if (it != cache.end()) return it->second.get();
  auto p = make();
  T* r = p.get();
  cache.emplace(key, std::move(p));
  return r;
}

/** Runs `f`, converting dnnl::error / std::exception into a JS Error prefixed with `op`. */
Napi::Value guarded(const Napi::CallbackInfo& info, const char* op,
                    const std::function<Napi::Value()>& f);

// ---- kernel families (each .cc defines one) -------------------------------------------------
void InitMemory(Napi::Env env, Napi::Object exports);
void InitDtype(Napi::Env env, Napi::Object exports);
void InitElementwise(Napi::Env env, Napi::Object exports);
void InitReduce(Napi::Env env, Napi::Object exports);
void InitLayout(Napi::Env env, Napi::Object exports);
void InitMatmul(Napi::Env env, Napi::Object exports);
void InitSoftmax(Napi::Env env, Napi::Object exports);
void InitConv(Napi::Env env, Napi::Object exports);
void InitPool(Napi::Env env, Napi::Object exports);
void InitBatchNorm(Napi::Env env, Napi::Object exports);
void InitResize(Napi::Env env, Napi::Object exports);
void InitOptim(Napi::Env env, Napi::Object exports);

}  // namespace cn
