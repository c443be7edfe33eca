// The JS `ModelHandle`: a VQ-LCMD network (online weights and, when known, the sampling EMA) that the sampler,
// evaluation and tests use. Handles created from a Trainer share its modules and its lock.
#pragma once
#include <napi.h>

#include <memory>
#include <mutex>

#include "addon/denoiser_handle.h"
#include "core/model/lcmd_model.h"

namespace lcmd::addon {

struct ModelState {
  LcmdModel online{nullptr};
  LcmdModel ema{nullptr};  // may be null: then the online weights are used
  std::shared_ptr<std::mutex> lock = std::make_shared<std::mutex>();
  bool bf16 = false;
  at::Tensor time_warp;  // the learned time warp's statistics [2, 64] (train.timeWarp "learned"), else undefined
  LcmdModel pick(bool use_ema) const { return use_ema && ema ? ema : online; }
};

class ModelHandle : public Napi::ObjectWrap<ModelHandle>, public DenoiserProvider {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<ModelState> state);
  static std::shared_ptr<ModelState> From(Napi::Env env, Napi::Value value);

  explicit ModelHandle(const Napi::CallbackInfo& info);
  std::shared_ptr<lcmd::Denoiser> denoiser(Napi::Env env, bool use_ema) override;

 private:
  std::shared_ptr<ModelState> live(Napi::Env env) const;
  Napi::Value Config(const Napi::CallbackInfo& info);
  Napi::Value ParameterCount(const Napi::CallbackInfo& info);
  Napi::Value TimeWarpStatistics(const Napi::CallbackInfo& info);
  Napi::Value ParameterNames(const Napi::CallbackInfo& info);
  Napi::Value GetParameter(const Napi::CallbackInfo& info);
  Napi::Value SetParameter(const Napi::CallbackInfo& info);
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<ModelState> state_;
};

}  // namespace lcmd::addon
