// The JS `TrainerHandle`: owns a core Trainer; every long call runs on the libuv pool under the trainer's lock.
#pragma once
#include <napi.h>

#include <memory>
#include <mutex>

#include "core/train/trainer.h"

namespace lcmd::addon {

struct TrainerState {
  std::unique_ptr<Trainer> trainer;
  std::shared_ptr<std::mutex> lock = std::make_shared<std::mutex>();
};

class TrainerHandle : public Napi::ObjectWrap<TrainerHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<TrainerState> state);
  static std::shared_ptr<TrainerState> From(Napi::Env env, Napi::Value value);

  explicit TrainerHandle(const Napi::CallbackInfo& info);

 private:
  std::shared_ptr<TrainerState> live(Napi::Env env) const;
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value Save(const Napi::CallbackInfo& info);
  Napi::Value Model(const Napi::CallbackInfo& info);
  Napi::Value Evaluate(const Napi::CallbackInfo& info);
  Napi::Value EmbeddingStatsJs(const Napi::CallbackInfo& info);
  Napi::Value LoadCodebook(const Napi::CallbackInfo& info);
  Napi::Value Steps(const Napi::CallbackInfo& info);
  Napi::Value Config(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<TrainerState> state_;
};

}  // namespace lcmd::addon
