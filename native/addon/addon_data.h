// Per-environment state (one per Node main thread or worker_thread); no static JS references.
#pragma once
#include <napi.h>

namespace lcmd::addon {

struct AddonData {
  Napi::FunctionReference error_class;  // LcmdError, handed over from JavaScript at load
  Napi::FunctionReference tensor_class;
  Napi::FunctionReference cancel_token_class;
  Napi::FunctionReference model_class;
  Napi::FunctionReference trainer_class;
  Napi::FunctionReference tokenizer_class;
  Napi::FunctionReference dataset_class;
  Napi::FunctionReference process_group_class;
};

inline AddonData& data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace lcmd::addon
