// Addon entry point: per-environment data, the base classes, then each module's bindings.
#include <napi.h>

#include "addon/addon_data.h"
#include "addon/async_task.h"
#include "addon/errors.h"
#include "addon/modules.h"
#include "addon/tensor_handle.h"
#include "core/base/cpu_tensor_cache.h"

namespace lcmd::addon {

namespace {

// JavaScript hands over its LcmdError class so native errors are real LcmdError instances.
Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "setErrorClass expects a class");
  data(info.Env()).error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  install_cpu_tensor_cache();  // before any tensor exists
  env.SetInstanceData<AddonData>(new AddonData());
  auto& d = data(env);
  auto tensor = TensorHandle::Define(env);
  d.tensor_class = Napi::Persistent(tensor);
  auto token = CancelToken::Define(env);
  d.cancel_token_class = Napi::Persistent(token);
  exports.Set("TensorHandle", tensor);
  exports.Set("CancelToken", token);
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass));
  register_runtime(env, exports);
  register_data(env, exports);
  register_tokenizer(env, exports);
  register_score(env, exports);
  register_sampler(env, exports);
  register_oracle(env, exports);
  register_model(env, exports);
  register_trainer(env, exports);
  register_objective_hooks(env, exports);
  register_schedule_hooks(env, exports);
  register_fused_hooks(env, exports);
  register_trainer_hooks(env, exports);
  register_distributed(env, exports);
  return exports;
}

}  // namespace lcmd::addon

static Napi::Object InitLcmd(Napi::Env env, Napi::Object exports) { return lcmd::addon::Init(env, exports); }

NODE_API_MODULE(lcmd, InitLcmd)
