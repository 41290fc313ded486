// (placeholder until this kernel family is written)
#include "buf.h"
namespace cn {
void InitMatmul(Napi::Env, Napi::Object) {}
}  // namespace cn
