// Each binding file registers its functions and classes on the addon's exports.
#pragma once
#include <napi.h>

namespace lcmd::addon {

void register_runtime(Napi::Env env, Napi::Object exports);
void register_data(Napi::Env env, Napi::Object exports);
void register_tokenizer(Napi::Env env, Napi::Object exports);
void register_score(Napi::Env env, Napi::Object exports);
void register_sampler(Napi::Env env, Napi::Object exports);
void register_oracle(Napi::Env env, Napi::Object exports);
void register_model(Napi::Env env, Napi::Object exports);
void register_trainer(Napi::Env env, Napi::Object exports);
void register_objective_hooks(Napi::Env env, Napi::Object exports);
void register_schedule_hooks(Napi::Env env, Napi::Object exports);
void register_fused_hooks(Napi::Env env, Napi::Object exports);
void register_trainer_hooks(Napi::Env env, Napi::Object exports);
void register_distributed(Napi::Env env, Napi::Object exports);

}  // namespace lcmd::addon
