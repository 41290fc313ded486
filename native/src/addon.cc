// Entry point of the convnet native addon: registers every kernel family.
#include <omp.h>

#include "buf.h"

namespace cn {

// setNumThreads(n): the OpenMP threads of the kernels called from this (the JS) thread, as
// torch.set_num_threads; getNumThreads() -> the current number.
static Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  const int n = info[0].As<Napi::Number>().Int32Value();
  if (n < 1) throw Napi::RangeError::New(info.Env(), "setNumThreads: the number of threads must be >= 1");
  omp_set_num_threads(n);
  return info.Env().Undefined();
}

static Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), omp_get_max_threads());
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitMemory(env, exports);
  InitDtype(env, exports);
  InitElementwise(env, exports);
  InitReduce(env, exports);
  InitLayout(env, exports);
  InitMatmul(env, exports);
  InitSoftmax(env, exports);
  InitConv(env, exports);
  InitPool(env, exports);
  InitBatchNorm(env, exports);
  InitResize(env, exports);
  InitOptim(env, exports);
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads));
  return exports;
}

}  // namespace cn

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return cn::Init(env, exports); }

NODE_API_MODULE(convnet_native, InitAddon)
