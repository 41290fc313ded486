// Implementation of the shared core declared in buf.h.
#include "buf.h"

#include "dtype.h"

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

static std::atomic<int64_t> g_bytes{0};

// A caching allocator. Training allocates the same sizes every step; glibc hands blocks above its
// mmap threshold (<= 32 MB) straight back to the OS on free, so every step would page-fault and
// zero-fill hundreds of MB of fresh mappings (measured: 300-500 ms per 51 MB output on this VM,
// against ~10 ms when the memory is reused). Freed blocks are therefore kept in per-size free
// lists and handed out again; the cache is bounded and can be emptied.
namespace {
std::mutex g_cacheMutex;
// Free blocks per rounded size, newest at the back; each with the tick at which it was freed.
std::unordered_map<size_t, std::vector<std::pair<char*, uint64_t>>> g_free;
int64_t g_cached = 0;
uint64_t g_tick = 0;
const int64_t kCacheCap = int64_t(6) << 30;  // keep at most 6 GiB of free blocks

char* takeBlock(size_t rounded) {
  {
    std::lock_guard<std::mutex> lock(g_cacheMutex);
    auto it = g_free.find(rounded);
    if (it != g_free.end() && !it->second.empty()) {
      char* p = it->second.back().first;
      it->second.pop_back();
      g_cached -= static_cast<int64_t>(rounded);
      return p;
    }
  }
  return static_cast<char*>(std::aligned_alloc(64, rounded));
}

// Frees the block that has been in the cache longest. When the working set changes (a new model
// in the same process, a new input size), the old sizes age out instead of filling the cap and
// leaving the new sizes uncached (measured: a model benchmarked after three others in one process
// ran 8x slower, page-faulting fresh memory every step).
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
  g_cached -= static_cast<int64_t>(oldest->first);
  if (oldest->second.empty()) g_free.erase(oldest);
  return true;
}

void giveBlock(char* p, size_t rounded) {
  std::lock_guard<std::mutex> lock(g_cacheMutex);
  if (static_cast<int64_t>(rounded) > kCacheCap) {
    std::free(p);
    return;
  }
  while (g_cached + static_cast<int64_t>(rounded) > kCacheCap && evictOldest()) {
  }
  g_free[rounded].emplace_back(p, ++g_tick);
  g_cached += static_cast<int64_t>(rounded);
}
}  // namespace

int64_t bytesInUse() { return g_bytes.load(); }

int64_t bytesCached() {
  std::lock_guard<std::mutex> lock(g_cacheMutex);
  return g_cached;
}

void emptyCache() {
  std::lock_guard<std::mutex> lock(g_cacheMutex);
  for (auto& kv : g_free) {
    for (auto& e : kv.second) std::free(e.first);
  }
  g_free.clear();
  g_cached = 0;
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

BufPtr allocBuf(const memory::desc& md, bool zero) {
  size_t bytes = md.get_size();
  size_t rounded = ((bytes + 63) / 64) * 64;
  if (rounded == 0) rounded = 64;
  char* p = takeBlock(rounded);
  if (!p) throw std::bad_alloc();
  if (zero) std::memset(p, 0, rounded);
  g_bytes += static_cast<int64_t>(rounded);
  auto b = std::make_shared<Buf>();
  b->data = std::shared_ptr<char>(p, [rounded](char* q) {
    g_bytes -= static_cast<int64_t>(rounded);
    giveBlock(q, rounded);
  });
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
