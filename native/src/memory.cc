// Host <-> native memory: creating Bufs from typed arrays, reading them back (reordering blocked
// layouts to row-major), filling, disposing, and accounting.
#include <algorithm>
#include <cstring>

#include "dtype.h"
#include "general.h"
#include "simd.h"

namespace cn {

static dt dtypeOf(const Napi::Value& v) {
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s == "float32") return dt::f32;
  if (s == "int32") return dt::s32;
  if (s == "bfloat16") return dt::bf16;
  throw Napi::TypeError::New(v.Env(), "unsupported dtype " + s);
}

/** The typed-array type that holds host data of `t` (bfloat16: raw bits in a Uint16Array). */
static napi_typedarray_type hostArrayType(dt t) {
  return t == dt::s32 ? napi_int32_array : t == dt::bf16 ? napi_uint16_array : napi_float32_array;
}

static const char* hostArrayName(dt t) {
  return t == dt::s32 ? "Int32Array" : t == dt::bf16 ? "Uint16Array" : "Float32Array";
}

// fromHost(typedArray, dims, dtype) -> handle
static Napi::Value FromHost(const Napi::CallbackInfo& info) {
  return guarded(info, "fromHost", [&]() -> Napi::Value {
    auto arr = info[0].As<Napi::TypedArray>();
    dims d = toDims(info[1]);
    dt t = dtypeOf(info[2]);
    auto b = allocPlain(d, t);
    size_t n = static_cast<size_t>(b->numel());
    if (arr.TypedArrayType() != hostArrayType(t))
      fail(info.Env(), std::string("fromHost: ") + dtName(t) + " data must be a " + hostArrayName(t));
    if (arr.ElementLength() != n) fail(info.Env(), "fromHost: data length does not match shape");
    auto ab = arr.ArrayBuffer();
    const char* src = static_cast<const char*>(ab.Data()) + arr.ByteOffset();
    std::memcpy(b->data.get(), src, n * dtSize(t));
    return wrap(info.Env(), b);
  });
}

// toHost(handle) -> Float32Array | Int32Array | Uint16Array (bfloat16 bits), row-major
static Napi::Value ToHost(const Napi::CallbackInfo& info) {
  return guarded(info, "toHost", [&]() -> Napi::Value {
    auto b = toPlain(unwrap(info[0], "toHost"));
    size_t n = static_cast<size_t>(b->numel());
    const size_t esz = dtSize(b->dataType());
    auto ab = Napi::ArrayBuffer::New(info.Env(), n * esz);
    std::memcpy(ab.Data(), b->data.get(), n * esz);
    if (b->dataType() == dt::s32) return Napi::Int32Array::New(info.Env(), n, ab, 0);
    if (b->dataType() == dt::bf16) return Napi::Uint16Array::New(info.Env(), n, ab, 0);
    return Napi::Float32Array::New(info.Env(), n, ab, 0);
  });
}

/** p[0..n) = f (multiversioned: wider stores where the CPU has them). */
CN_SIMD static void fillRange(float* p, int64_t n, float f) {
  for (int64_t i = 0; i < n; ++i) p[i] = f;
}
CN_SIMD static void fillRange16(uint16_t* p, int64_t n, uint16_t f) {
  for (int64_t i = 0; i < n; ++i) p[i] = f;
}

// full(dims, dtype, value) -> handle
static Napi::Value Full(const Napi::CallbackInfo& info) {
  return guarded(info, "full", [&]() -> Napi::Value {
    dims d = toDims(info[0]);
    dt t = dtypeOf(info[1]);
    double v = info[2].As<Napi::Number>().DoubleValue();
    auto b = allocPlain(d, t);
    int64_t n = b->numel();
    if (t == dt::s32) {
      // truncated toward zero (NaN gives 0, out of range saturates: no undefined conversion)
      const int32_t iv = v != v ? 0 : v >= 2147483647.0 ? INT32_MAX : v <= -2147483648.0 ? INT32_MIN : static_cast<int32_t>(v);
      std::fill(b->s32(), b->s32() + n, iv);
    } else if (t == dt::bf16) {
      const uint16_t h = toBf16(static_cast<float>(v));
      uint16_t* p = b->bf16();
      gen::parallelFor(n, [&](int64_t lo, int64_t hi) { fillRange16(p + lo, hi - lo, h); });
    } else {
      float f = static_cast<float>(v);
      float* p = b->f32();
      gen::parallelFor(n, [&](int64_t lo, int64_t hi) { fillRange(p + lo, hi - lo, f); });
    }
    return wrap(info.Env(), b);
  });
}

// dispose(handle): frees the memory now (views sharing it keep it alive).
static Napi::Value Dispose(const Napi::CallbackInfo& info) {
  if (info[0].IsExternal()) {
    auto* h = info[0].As<Napi::External<BufPtr>>().Data();
    if (h) h->reset();
  }
  return info.Env().Undefined();
}

static Napi::Value MemoryInUse(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(bytesInUse()));
}

static Napi::Value MemoryCached(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(bytesCached()));
}

// memoryStats() -> { live, peakLive, cached, peakCached, reserved, peakReserved, workspace,
//   peakWorkspace, scratchpad, peakScratchpadRequest, allocations, cacheHits } (bytes; counts)
static Napi::Value MemoryStatsJs(const Napi::CallbackInfo& info) {
  const MemoryStats m = memoryStats();
  auto env = info.Env();
  auto o = Napi::Object::New(env);
  auto set = [&](const char* k, int64_t v) { o.Set(k, Napi::Number::New(env, static_cast<double>(v))); };
  set("live", m.live);
  set("peakLive", m.peakLive);
  set("cached", m.cached);
  set("peakCached", m.peakCached);
  set("reserved", m.reserved);
  set("peakReserved", m.peakReserved);
  set("workspace", m.workspace);
  set("peakWorkspace", m.peakWorkspace);
  set("scratchpad", m.scratchpad);
  set("peakScratchpadRequest", m.peakScratchpadRequest);
  set("allocations", m.allocations);
  set("cacheHits", m.cacheHits);
  return o;
}

// detachHost(typedArray): detaches the array's ArrayBuffer, which frees its memory now (V8 would
// keep it until a garbage collection: the host staging buffers of a model's parameters, 170 MB on
// vgg11-slim, stayed resident through training). The array is empty afterwards.
static Napi::Value DetachHost(const Napi::CallbackInfo& info) {
  if (info[0].IsTypedArray()) {
    auto ab = info[0].As<Napi::TypedArray>().ArrayBuffer();
    if (!ab.IsDetached()) ab.Detach();
  }
  return info.Env().Undefined();
}

// resetPeakMemoryStats(): every peak := its current value.
static Napi::Value ResetPeakMemoryStats(const Napi::CallbackInfo& info) {
  resetPeakMemoryStats();
  return info.Env().Undefined();
}

static Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  emptyCache();
  return info.Env().Undefined();
}

// dtypeOf(handle) -> 'float32' | 'bfloat16' | 'int32' (the storage's element type)
static Napi::Value DtypeOf(const Napi::CallbackInfo& info) {
  auto b = unwrap(info[0], "dtypeOf");
  return Napi::String::New(info.Env(), dtName(b->dataType()));
}

// layoutOf(handle) -> string describing the physical layout (for tests and debugging)
static Napi::Value LayoutOf(const Napi::CallbackInfo& info) {
  auto b = unwrap(info[0], "layoutOf");
  return Napi::String::New(info.Env(), b->isPlain() ? std::string("plain") : "blocked:" + mdKey(b->md));
}

// paddingIsZero(handle) -> true when the zero-padded area of a blocked layout (e.g. the channel
// tail of nChw16c with C % 16 != 0) holds only zeros, as every kernel assumes (for tests). Checked by
// reordering the data to row-major and back (a reorder writes zeros into the padding) and comparing
// the bytes.
static Napi::Value PaddingIsZero(const Napi::CallbackInfo& info) {
  return guarded(info, "paddingIsZero", [&]() -> Napi::Value {
    auto b = unwrap(info[0], "paddingIsZero");
    if (b->md.data.format_kind != dnnl_blocked || gen::isDense(b->md) || b->numel() == 0)
      return Napi::Boolean::New(info.Env(), true);
    auto again = reorderTo(toPlain(b), b->md);
    return Napi::Boolean::New(info.Env(), std::memcmp(again->data.get(), b->data.get(), b->bytes()) == 0);
  });
}

void InitMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("paddingIsZero", Napi::Function::New(env, PaddingIsZero));
  exports.Set("fromHost", Napi::Function::New(env, FromHost));
  exports.Set("toHost", Napi::Function::New(env, ToHost));
  exports.Set("full", Napi::Function::New(env, Full));
  exports.Set("dispose", Napi::Function::New(env, Dispose));
  exports.Set("memoryInUse", Napi::Function::New(env, MemoryInUse));
  exports.Set("memoryCached", Napi::Function::New(env, MemoryCached));
  exports.Set("emptyCache", Napi::Function::New(env, EmptyCache));
  exports.Set("memoryStats", Napi::Function::New(env, MemoryStatsJs));
  exports.Set("resetPeakMemoryStats", Napi::Function::New(env, ResetPeakMemoryStats));
  exports.Set("detachHost", Napi::Function::New(env, DetachHost));
  exports.Set("layoutOf", Napi::Function::New(env, LayoutOf));
  exports.Set("dtypeOf", Napi::Function::New(env, DtypeOf));
}

}  // namespace cn
