// Implementation of the shared core declared in buf.h.
#include "buf.h"

#include "dtype.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <atomic>
#include <mutex>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace cn {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

// A caching allocator. Training allocates the same sizes every step; glibc hands blocks above its
// mmap threshold (<= 32 MB) straight back to the OS on free, so every step would page-fault and
// zero-fill hundreds of MB of fresh mappings (measured on this VM: 1.5 ms per MB of fresh pages,
// 0.1 ms per MB of reused ones). Freed memory is therefore kept and handed out again:
// - blocks under 8 MiB in per-size free lists (bounded; the oldest are freed first). The newest free
//   block of a size is reused first, likely still in the CPU's caches: small models, whose tensors
//   all fit in L3, ran ~5% slower (bnlenet) when these came from the arena too;
// - larger blocks in one arena of address space, best fit with splitting and coalescing (as
//   dlmalloc and PyTorch's CUDA caching allocator do): a freed block serves any smaller request
//   and merges with free neighbours. Per-size free lists for these held 1.7-2.4x the step's peak of
//   live bytes (AlexNet, VGG, NiN, DenseNet at batch 128: a layer's freed blocks cannot serve
//   another layer's sizes); the arena holds 1.1-1.25x, with no fresh pages after the first steps.
// Every count below (live, cached, their peaks) changes under the one mutex, so the peaks are exact.
namespace {
std::mutex g_cacheMutex;
// Free small blocks per rounded size, newest at the back; each with the tick at which it was freed.
std::unordered_map<size_t, std::vector<std::pair<char*, uint64_t>>> g_free;
uint64_t g_tick = 0;
int64_t g_smallCached = 0;
const size_t kLarge = size_t(1) << 20;             // blocks from this size on are page-rounded
const size_t kArenaMin = size_t(8) << 20;          // and from this size on come from the arena
const int64_t kSmallCacheCap = int64_t(1) << 30;  // keep at most 1 GiB of free small blocks
const size_t kPage = 4096;

struct Counters {
  int64_t live = 0, peakLive = 0, cached = 0, peakCached = 0, peakReserved = 0;
  int64_t workspace = 0, peakWorkspace = 0;
  int64_t allocations = 0, cacheHits = 0;
  void peaks() {
    peakLive = std::max(peakLive, live);
    peakCached = std::max(peakCached, cached);
    peakReserved = std::max(peakReserved, live + cached);
    peakWorkspace = std::max(peakWorkspace, workspace);
  }
};
Counters g_c;

/**
 * The arena: one reserved range of address space (pages become resident when first written);
 * `blocks` tiles [0, top) in address order, `freeBySize` indexes the free ones for best fit.
 * `resident` is how many bytes of a free block still hold physical pages (emptyCache releases them).
 */
struct Arena {
  struct Block {
    size_t size;
    bool free;
    size_t resident;
  };
  char* base = nullptr;
  size_t cap = 0, top = 0;
  std::map<size_t, Block> blocks;               // offset -> block
  std::set<std::pair<size_t, size_t>> freeBySize;  // (size, offset) of free blocks

  /** Reserves the address space once: the machine's RAM (less under an address-space limit). */
  void init() {
    if (cap != 0 || base != nullptr) return;
    size_t want = static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) want = std::min<size_t>(want, rl.rlim_cur / 2);
    want = want / kPage * kPage;
    for (size_t c = want; c >= (size_t(256) << 20); c /= 2) {
      void* p = mmap(nullptr, c, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p != MAP_FAILED) {
        base = static_cast<char*>(p);
        cap = c;
        return;
      }
    }
    cap = 1;  // no arena: large blocks fall back to aligned_alloc
  }
  bool owns(const char* p) const { return base != nullptr && p >= base && p < base + cap; }

  /** A block of `n` bytes (a multiple of kPage); `cachedUsed` gets how many of them were resident. */
  char* take(size_t n, size_t& residentUsed) {
    init();
    if (base == nullptr) return nullptr;
    auto f = freeBySize.lower_bound({n, 0});
    size_t off;
    if (f != freeBySize.end()) {
      off = f->second;
      freeBySize.erase(f);
    } else {
      // Nothing fits: grow at the top, extending the last block when it is free.
      auto last = blocks.empty() ? blocks.end() : std::prev(blocks.end());
      if (last != blocks.end() && last->second.free) {
        if (top + (n - last->second.size) > cap) return nullptr;
        off = last->first;
        freeBySize.erase({last->second.size, off});
        top += n - last->second.size;
        last->second.size = n;
      } else {
        if (top + n > cap) return nullptr;
        off = top;
        blocks[off] = Block{n, true, 0};
        top += n;
      }
    }
    Block& b = blocks[off];
    residentUsed = std::min(b.resident, n);
    if (b.size > n) {
      // The rest stays free (its resident bytes are counted after the part handed out).
      const size_t rest = b.size - n;
      blocks[off + n] = Block{rest, true, b.resident - residentUsed};
      freeBySize.insert({rest, off + n});
      b.size = n;
    }
    b.free = false;
    b.resident = n;  // kernels write what they get
    return base + off;
  }

  /** Returns a block; it merges with free neighbours. */
  void give(char* p) {
    auto it = blocks.find(static_cast<size_t>(p - base));
    it->second.free = true;
    auto next = std::next(it);
    if (next != blocks.end() && next->second.free) {
      freeBySize.erase({next->second.size, next->first});
      it->second.size += next->second.size;
      it->second.resident += next->second.resident;
      blocks.erase(next);
    }
    if (it != blocks.begin()) {
      auto prev = std::prev(it);
      if (prev->second.free) {
        freeBySize.erase({prev->second.size, prev->first});
        prev->second.size += it->second.size;
        prev->second.resident += it->second.resident;
        blocks.erase(it);
        it = prev;
      }
    }
    freeBySize.insert({it->second.size, it->first});
  }

  /** Gives the physical pages of every free block back to the system; returns the bytes released. */
  size_t release() {
    size_t released = 0;
    for (auto& kv : blocks) {
      Block& b = kv.second;
      if (!b.free || b.resident == 0) continue;
      madvise(base + kv.first, b.size, MADV_DONTNEED);
      released += b.resident;
      b.resident = 0;
    }
    return released;
  }
};
Arena g_arena;

char* takeBlock(size_t rounded, BufKind kind) {
  std::lock_guard<std::mutex> lock(g_cacheMutex);
  const auto n = static_cast<int64_t>(rounded);
  char* p = nullptr;
  if (rounded >= kArenaMin) {
    size_t resident = 0;
    p = g_arena.take(rounded, resident);
    if (p != nullptr) {
      g_c.cached -= static_cast<int64_t>(resident);
      if (resident == rounded) ++g_c.cacheHits;
    }
  } else {
    auto it = g_free.find(rounded);
    if (it != g_free.end() && !it->second.empty()) {
      p = it->second.back().first;
      it->second.pop_back();
      g_c.cached -= n;
      g_smallCached -= n;
      ++g_c.cacheHits;
    }
  }
  if (p == nullptr) {
    p = static_cast<char*>(std::aligned_alloc(64, rounded));
    if (!p) return nullptr;
  }
  ++g_c.allocations;
  g_c.live += n;
  if (kind == BufKind::Workspace) g_c.workspace += n;
  g_c.peaks();
  return p;
}

// Frees the small block that has been in the cache longest. When the working set changes (a new
// model in the same process, a new input size), the old sizes age out instead of filling the cap and
// leaving the new sizes uncached.
bool evictOldest() {
  auto oldest = g_free.end();
  for (auto it = g_free.begin(); it != g_free.end(); ++it) {
    if (!it->second.empty() && (oldest == g_free.end() || it->second.front().second < oldest->second.front().second)) {
      oldest = it;
    }
  }
  if (oldest == g_free.end()) return false;
  std::free(oldest->second.front().first);
  oldest->second.erase(oldest->second.begin());
  g_c.cached -= static_cast<int64_t>(oldest->first);
  g_smallCached -= static_cast<int64_t>(oldest->first);
  if (oldest->second.empty()) g_free.erase(oldest);
  return true;
}

void giveBlock(char* p, size_t rounded, BufKind kind) {
  std::lock_guard<std::mutex> lock(g_cacheMutex);
  const auto n = static_cast<int64_t>(rounded);
  g_c.live -= n;
  if (kind == BufKind::Workspace) g_c.workspace -= n;
  if (g_arena.owns(p)) {
    g_arena.give(p);
    g_c.cached += n;
  } else if (rounded >= kArenaMin) {
    std::free(p);  // the arena was full or unavailable when it was allocated
  } else {
    while (g_smallCached + n > kSmallCacheCap && evictOldest()) {
    }
    g_free[rounded].emplace_back(p, ++g_tick);
    g_c.cached += n;
    g_smallCached += n;
  }
  g_c.peaks();
}
}  // namespace

int64_t bytesInUse() {
  std::lock_guard<std::mutex> lock(g_cacheMutex);
  return g_c.live;
}

int64_t bytesCached() {
  std::lock_guard<std::mutex> lock(g_cacheMutex);
  return g_c.cached;
}

void emptyCache() {
  std::lock_guard<std::mutex> lock(g_cacheMutex);
  for (auto& kv : g_free) {
    for (auto& e : kv.second) std::free(e.first);
  }
  g_free.clear();
  g_c.cached -= g_smallCached;
  g_smallCached = 0;
  g_c.cached -= static_cast<int64_t>(g_arena.release());
}

MemoryStats memoryStats() {
  MemoryStats m{};
  {
    std::lock_guard<std::mutex> lock(g_cacheMutex);
    m.live = g_c.live;
    m.peakLive = g_c.peakLive;
    m.cached = g_c.cached;
    m.peakCached = g_c.peakCached;
    m.reserved = g_c.live + g_c.cached;
    m.peakReserved = g_c.peakReserved;
    m.workspace = g_c.workspace;
    m.peakWorkspace = g_c.peakWorkspace;
    m.allocations = g_c.allocations;
    m.cacheHits = g_c.cacheHits;
  }
  m.scratchpad = scratchpadBytes();
  m.peakScratchpadRequest = scratchpadPeakRequest();
  return m;
}

void resetPeakMemoryStats() {
  {
    std::lock_guard<std::mutex> lock(g_cacheMutex);
    g_c.peakLive = g_c.live;
    g_c.peakCached = g_c.cached;
    g_c.peakReserved = g_c.live + g_c.cached;
    g_c.peakWorkspace = g_c.workspace;
    g_c.allocations = 0;
    g_c.cacheHits = 0;
  }
  resetScratchpadPeak();
}

// ---- the shared oneDNN scratchpad ---------------------------------------------------------------
namespace {
std::atomic<int64_t> g_scratchTotal{0};
std::atomic<int64_t> g_scratchPeakRequest{0};

/** One buffer per thread (kernels run on the JS thread; a worker thread would get its own). */
struct Scratchpad {
  char* p = nullptr;
  size_t size = 0;
  ~Scratchpad() {
    std::free(p);
    g_scratchTotal -= static_cast<int64_t>(size);
  }
  char* get(size_t need) {
    if (need > size) {
      std::free(p);
      g_scratchTotal -= static_cast<int64_t>(size);
      size = 0;
      const size_t rounded = ((need + 4095) / 4096) * 4096;
      p = static_cast<char*>(std::aligned_alloc(64, rounded));
      if (!p) throw std::bad_alloc();
      size = rounded;
      g_scratchTotal += static_cast<int64_t>(size);
    }
    return p;
  }
};
thread_local Scratchpad t_scratch;
}  // namespace

int64_t scratchpadBytes() { return g_scratchTotal.load(); }
int64_t scratchpadPeakRequest() { return g_scratchPeakRequest.load(); }
void resetScratchpadPeak() { g_scratchPeakRequest = 0; }

dnnl::primitive_attr primAttr() {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

void execute(const dnnl::primitive& p, std::unordered_map<int, memory> args) {
  // The C API takes a non-const descriptor for queries; the query does not modify it.
  auto pd = const_cast<dnnl_primitive_desc_t>(p.get_primitive_desc());
  const dnnl_memory_desc_t* smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  if (smd != nullptr && smd->ndims > 0) {
    memory::desc md(*smd);
    const size_t need = md.get_size();
    if (need > 0) {
      int64_t prev = g_scratchPeakRequest.load();
      while (static_cast<int64_t>(need) > prev && !g_scratchPeakRequest.compare_exchange_weak(prev, static_cast<int64_t>(need))) {
      }
      args.insert_or_assign(DNNL_ARG_SCRATCHPAD, memory(md, engine(), t_scratch.get(need)));
    }
  }
  p.execute(stream(), args);
  stream().wait();
}

int64_t Buf::numel() const {
  int64_t n = 1;
  for (auto d : md.dims()) n *= d;
  return n;
}

memory::desc plainDesc(const dims& d, dt t) {
  if (d.empty()) return memory::desc({1}, t, tag::a);  // scalars are stored as [1]
  memory::dims strides(d.size());
  memory::dim s = 1;
  for (int i = static_cast<int>(d.size()) - 1; i >= 0; --i) {
    strides[i] = s;
    s *= d[i];
  }
  return memory::desc(d, t, strides);
}

bool Buf::isPlain() const { return md == plainDesc(md.dims(), md.data_type()); }

BufPtr allocBuf(const memory::desc& md, bool zero, BufKind kind) {
  size_t bytes = md.get_size();
  size_t rounded = ((bytes + 63) / 64) * 64;
  if (rounded == 0) rounded = 64;
  if (rounded >= kLarge) rounded = (rounded + kPage - 1) / kPage * kPage;
  char* p = takeBlock(rounded, kind);
  if (!p) throw std::bad_alloc();
  if (zero) std::memset(p, 0, rounded);
  auto b = std::make_shared<Buf>();
  b->data = std::shared_ptr<char>(p, [rounded, kind](char* q) { giveBlock(q, rounded, kind); });
  b->md = md;
  return b;
}

BufPtr allocPlain(const dims& d, dt t, bool zero) { return allocBuf(plainDesc(d, t), zero); }

BufPtr reorderTo(const BufPtr& b, const memory::desc& md) {
  if (b->md == md) return b;
  const dt from = b->dataType(), to = md.data_type();
  const auto isFloat = [](dt t) { return t == dt::f32 || t == dt::bf16; };
  if (from != to && isFloat(from) && isFloat(to) && withType(b->md, to) == md) {
    // same layout, another element type: an exact widening or one rounding, without oneDNN (whose
    // bf16 reorders are reference loops on CPUs without AVX-512)
    return convertType(b, to);
  }
  if ((from == dt::bf16 || to == dt::bf16) && !jitBf16Reorders()) {
    // a layout change of bf16 data without oneDNN's jit bf16 reorders: move the values in float32
    // (exact) and convert here
    auto y32 = reorderTo(convertType(b, dt::f32), withType(md, dt::f32));
    return to == dt::f32 ? y32 : to == dt::bf16 ? narrow(y32) : reorderTo(y32, md);
  }
  auto out = allocBuf(md);
  auto src = b->mem();
  auto dst = out->mem();
  dnnl::reorder(src, dst).execute(stream(), src, dst);
  stream().wait();
  return out;
}

BufPtr toPlain(const BufPtr& b) {
  if (b->isPlain()) return b;
  return reorderTo(b, plainDesc(b->md.dims(), b->md.data_type()));
}

// ---- N-API glue ---------------------------------------------------------------------------

Napi::Value wrap(Napi::Env env, BufPtr b) {
  auto* holder = new BufPtr(std::move(b));
  return Napi::External<BufPtr>::New(env, holder, [](Napi::Env, BufPtr* h) { delete h; });
}

BufPtr unwrapOpt(const Napi::Value& v, const char* what) {
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  return unwrap(v, what);
}

BufPtr unwrap(const Napi::Value& v, const char* what) {
  if (!v.IsExternal()) {
    throw Napi::TypeError::New(v.Env(), std::string(what) + ": expected a native tensor handle");
  }
  auto* h = v.As<Napi::External<BufPtr>>().Data();
  if (!h || !*h) {
    throw Napi::Error::New(v.Env(), std::string(what) + ": tensor memory was already disposed");
  }
  return *h;
}

dims toDims(const Napi::Value& v) {
  auto ints = toInts(v);
  return dims(ints.begin(), ints.end());
}

std::vector<int64_t> toInts(const Napi::Value& v) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), "expected an array of integers");
  auto a = v.As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) out[i] = a.Get(i).As<Napi::Number>().Int64Value();
  return out;
}

void fail(Napi::Env env, const std::string& msg) { throw Napi::Error::New(env, msg); }

std::string dimsKey(const dims& d) {
  std::ostringstream s;
  for (auto x : d) s << x << ',';
  return s.str();
}

std::string mdKey(const memory::desc& md) {
  // The raw C descriptor fully identifies the layout (dims, type, blocking, strides).
  const dnnl_memory_desc_t& c = md.data;
  std::ostringstream s;
  s << c.ndims << ':' << static_cast<int>(c.data_type) << ':' << static_cast<int>(c.format_kind)
    << ':';
  for (int i = 0; i < c.ndims; ++i) s << c.dims[i] << ',' << c.padded_dims[i] << ',';
  if (c.format_kind == dnnl_blocked) {
    const auto& bd = c.format_desc.blocking;
    s << 'S';
    for (int i = 0; i < c.ndims; ++i) s << bd.strides[i] << ',';
    s << 'B';
    for (int i = 0; i < bd.inner_nblks; ++i) s << bd.inner_blks[i] << '/' << bd.inner_idxs[i] << ',';
  }
  return s.str();
}

Napi::Value guarded(const Napi::CallbackInfo& info, const char* op,
                    const std::function<Napi::Value()>& f) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const dnnl::error& e) {
    throw Napi::Error::New(info.Env(), std::string(op) + ": oneDNN error: " + e.what());
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string(op) + ": " + e.what());
  }
}

}  // namespace cn
