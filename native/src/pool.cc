// (placeholder until this kernel family is written)
#include "buf.h"
namespace cn {
void InitPool(Napi::Env, Napi::Object) {}
}  // namespace cn
