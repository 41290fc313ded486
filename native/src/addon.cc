// Entry point of the convnet native addon: registers every kernel family.
#include "buf.h"

namespace cn {

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitMemory(env, exports);
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
  return exports;
}

}  // namespace cn

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return cn::Init(env, exports); }

NODE_API_MODULE(convnet_native, InitAddon)
