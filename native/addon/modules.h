// Each binding file registers its functions and classes on the addon's exports.
#pragma once
#include <napi.h>

namespace lcmd::addon {

void register_runtime(Napi::Env env, Napi::Object exports);

}  // namespace lcmd::addon
