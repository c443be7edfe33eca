// Test hook for the training step: the host-device syncs one step makes (core/base/sync_probe.h).
#include "addon/errors.h"
#include "addon/modules.h"
#include "addon/tensor_handle.h"
#include "addon/trainer_handle.h"
#include "core/base/error.h"
#include "core/base/sync_probe.h"

namespace lcmd::addon {

namespace {

// trainerStepSyncs(trainer, tokens, classes | null, control?) -> {syncs: string[], skipped, loss, gradNorm}: one training
// step, run on this thread under a SyncProbe. With control = true, an .item() and a nonzero run in a device phase
// first, so a test can see that the probe observes them.
Napi::Value TrainerStepSyncs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto state = TrainerHandle::From(env, info[0]);
    auto tokens = TensorHandle::From(env, info[1], "tokens");
    auto classes = info.Length() > 2 && info[2].IsObject() ? TensorHandle::From(env, info[2], "classes") : at::Tensor();
    std::lock_guard<std::mutex> lock(*state->lock);
    SyncProbe probe;
    if (info.Length() > 3 && info[3].ToBoolean().Value()) {
      SyncProbe::DevicePhase phase;
      auto ones = torch::ones({2});
      (void)ones.sum().item<double>();
      (void)torch::nonzero(ones);
    }
    auto r = state->trainer->step(tokens, classes);
    auto syncs = Napi::Array::New(env, probe.syncs().size());
    for (size_t i = 0; i < probe.syncs().size(); ++i) syncs.Set(uint32_t(i), probe.syncs()[i]);
    auto out = Napi::Object::New(env);
    out.Set("syncs", syncs);
    out.Set("skipped", r.skipped);
    out.Set("loss", r.loss);
    out.Set("gradNorm", r.grad_norm);
    return out;
  });
}

}  // namespace

void register_trainer_hooks(Napi::Env env, Napi::Object exports) {
  exports.Set("trainerStepSyncs", Napi::Function::New(env, TrainerStepSyncs));
}

}  // namespace lcmd::addon
