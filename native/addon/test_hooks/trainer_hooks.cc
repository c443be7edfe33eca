// Test hooks for the training step: the host-device syncs one step makes (core/base/sync_probe.h), and the learned
// time warp's density, inverse CDF and batch statistics (core/train/time_warp.h) on given inputs.
#include <cstring>

#include "addon/errors.h"
#include "addon/modules.h"
#include "addon/tensor_handle.h"
#include "addon/trainer_handle.h"
#include "core/base/error.h"
#include "core/base/sync_probe.h"
#include "core/noise/training_noise.h"
#include "core/train/time_warp.h"

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

at::Tensor float64_array_in(const Napi::Value& value, const char* what) {
  LCMD_CHECK(value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_float64_array, "E_TYPE",
             std::string("expected a Float64Array for ") + what);
  auto array = value.As<Napi::Float64Array>();
  return torch::from_blob(array.Data(), {int64_t(array.ElementLength())}, at::kDouble).clone();
}

Napi::Value float64_array_out(Napi::Env env, const at::Tensor& tensor) {
  auto values = tensor.to(at::kDouble).contiguous().reshape(-1);
  auto array = Napi::Float64Array::New(env, size_t(values.numel()));
  std::memcpy(array.Data(), values.data_ptr<double>(), sizeof(double) * size_t(values.numel()));
  return array;
}

// timeWarp(statistics: Float64Array [2 * bins] | null, u: Float64Array, t: Float64Array, ce: Float64Array)
//   -> {bins, probabilities, times, batchStatistics}: a warp holding `statistics` (fresh when null), its bin
//   probabilities, times(u), and batch_statistics(t, ce).
Napi::Value TimeWarpJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    TimeWarp warp(c10::Device(at::kCPU));
    if (info[0].IsTypedArray()) {
      auto stats = float64_array_in(info[0], "statistics");
      LCMD_CHECK(stats.numel() == 2 * TimeWarp::kBins, "E_SHAPE", "statistics must hold 2 * " + std::to_string(TimeWarp::kBins) + " values");
      warp.statistics().copy_(stats.view({2, TimeWarp::kBins}));
    }
    auto u = float64_array_in(info[1], "u").to(at::kFloat);
    auto t = float64_array_in(info[2], "t").to(at::kFloat);
    auto ce = float64_array_in(info[3], "ce");
    auto out = Napi::Object::New(env);
    out.Set("bins", Napi::Number::New(env, double(TimeWarp::kBins)));
    out.Set("probabilities", float64_array_out(env, warp.bin_probabilities()));
    out.Set("times", float64_array_out(env, warp.times(u)));
    out.Set("batchStatistics", float64_array_out(env, warp.batch_statistics(t, ce)));
    return out;
  });
}

// noiseLevelUniforms(seed, step, exampleOffset, batch, sampling) -> Float64Array: the uniforms behind a training step's
// t (core/noise/training_noise.h), for the examples [exampleOffset, exampleOffset + batch) of the step's global batch.
Napi::Value NoiseLevelUniforms(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto u = noise_level_uniforms(uint64_t(info[0].As<Napi::Number>().Int64Value()), info[1].As<Napi::Number>().Int64Value(),
                                  info[2].As<Napi::Number>().Int64Value(), info[3].As<Napi::Number>().Int64Value(),
                                  info[4].As<Napi::String>().Utf8Value(), c10::Device(at::kCPU));
    return float64_array_out(env, u);
  });
}

// trainerGradients(trainer) -> [{defined, storage, offset, numel}]: where each trainable parameter's gradient lives
// (its storage's address, as a number, and its element offset there), to see persistent bucket views.
Napi::Value TrainerGradients(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto state = TrainerHandle::From(env, info[0]);
    std::lock_guard<std::mutex> lock(*state->lock);
    const auto& params = state->trainer->trainable_parameters();
    auto out = Napi::Array::New(env, params.size());
    for (size_t i = 0; i < params.size(); ++i) {
      const auto& g = params[i].grad();
      auto item = Napi::Object::New(env);
      item.Set("defined", g.defined());
      item.Set("storage", g.defined() ? double(reinterpret_cast<uintptr_t>(g.storage().data())) : 0.0);
      item.Set("offset", g.defined() ? double(g.storage_offset()) : 0.0);
      item.Set("numel", double(params[i].numel()));
      out.Set(uint32_t(i), item);
    }
    return out;
  });
}

}  // namespace

void register_trainer_hooks(Napi::Env env, Napi::Object exports) {
  exports.Set("trainerStepSyncs", Napi::Function::New(env, TrainerStepSyncs));
  exports.Set("timeWarp", Napi::Function::New(env, TimeWarpJs));
  exports.Set("trainerGradients", Napi::Function::New(env, TrainerGradients));
  exports.Set("noiseLevelUniforms", Napi::Function::New(env, NoiseLevelUniforms));
}

}  // namespace lcmd::addon
