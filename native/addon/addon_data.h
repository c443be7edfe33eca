// Per-environment state (one per Node main thread or worker_thread); no static JS references.
#pragma once
#include <napi.h>

#include <vector>

namespace lcmd::addon {

class DenoiserProvider;  // addon/denoiser_handle.h
// A JS class the sampler accepts as a model, and how to reach its DenoiserProvider (see addon/denoiser_handle.h).
struct DenoiserClass {
  Napi::FunctionReference constructor;
  DenoiserProvider* (*unwrap)(Napi::Object object);
};

struct AddonData {
  Napi::FunctionReference error_class;  // LcmdError, handed over from JavaScript at load
  Napi::FunctionReference tensor_class;
  Napi::FunctionReference cancel_token_class;
  Napi::FunctionReference model_class;
  Napi::FunctionReference trainer_class;
  Napi::FunctionReference tokenizer_class;
  Napi::FunctionReference scorer_class;
  Napi::FunctionReference dataset_class;
  Napi::FunctionReference process_group_class;
  std::vector<DenoiserClass> denoiser_classes;
};

inline AddonData& data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace lcmd::addon
