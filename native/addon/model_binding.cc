// Bindings for models: create from a config, load weights from a checkpoint, read and set parameters (tests and
// interop), and run the network (forward) off the event loop.
#include <nlohmann/json.hpp>

#include "addon/addon_data.h"
#include "addon/async_task.h"
#include "addon/model_handle.h"
#include "addon/modules.h"
#include "addon/tensor_handle.h"
#include "core/train/checkpoint.h"
#include "core/base/device.h"
#include "core/sample/model_denoiser.h"

namespace lcmd::addon {

namespace {

std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) throw make_error(info.Env(), "E_TYPE", std::string("expected a string for ") + what);
  return info[i].As<Napi::String>().Utf8Value();
}

ModelConfig parse_model_config(const std::string& json_text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    fail("E_CONFIG", std::string("the model config is not valid JSON: ") + e.what());
  }
  auto config = j.get<ModelConfig>();
  config.validate();
  return config;
}

at::Tensor named_parameter(LcmdModelImpl& model, const std::string& name) {
  for (auto& item : model.named_parameters())
    if (item.key() == name) return item.value();
  fail("E_RANGE", "the model has no parameter named '" + name + "'");
}

}  // namespace

Napi::Function ModelHandle::Define(Napi::Env env) {
  return DefineClass(env, "ModelHandle",
                     {
                         InstanceMethod("config", &ModelHandle::Config),
                         InstanceMethod("parameterCount", &ModelHandle::ParameterCount),
                         InstanceMethod("parameterNames", &ModelHandle::ParameterNames),
                         InstanceMethod("getParameter", &ModelHandle::GetParameter),
                         InstanceMethod("setParameter", &ModelHandle::SetParameter),
                         InstanceMethod("forward", &ModelHandle::Forward),
                         InstanceMethod("device", &ModelHandle::Device),
                         InstanceMethod("timeWarpStatistics", &ModelHandle::TimeWarpStatistics),
                         InstanceMethod("dispose", &ModelHandle::Dispose),
                     });
}

// new ModelHandle(configJson, device?, seed?): a freshly initialised model; new ModelHandle() for Wrap().
ModelHandle::ModelHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelHandle>(info) {
  if (info.Length() == 0) return;
  guard(info.Env(), [&] {
    auto config = parse_model_config(string_arg(info, 0, "the model config"));
    auto device = parse_device(info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "cpu");
    if (info.Length() > 2 && info[2].IsNumber()) torch::manual_seed(uint64_t(info[2].As<Napi::Number>().Int64Value()));
    state_ = std::make_shared<ModelState>();
    state_->online = LcmdModel(config);
    state_->online->to(device);
    state_->online->eval();
  });
}

Napi::Object ModelHandle::Wrap(Napi::Env env, std::shared_ptr<ModelState> state) {
  auto obj = data(env).model_class.New({});
  Unwrap(obj)->state_ = std::move(state);
  return obj;
}

std::shared_ptr<ModelState> ModelHandle::From(Napi::Env env, Napi::Value value) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(data(env).model_class.Value()))
    throw make_error(env, "E_TYPE", "expected a Model");
  return Unwrap(value.As<Napi::Object>())->live(env);
}

std::shared_ptr<ModelState> ModelHandle::live(Napi::Env env) const {
  if (!state_) throw make_error(env, "E_DISPOSED", "this Model was disposed and can no longer be used");
  return state_;
}

std::shared_ptr<lcmd::Denoiser> ModelHandle::denoiser(Napi::Env env, bool use_ema) {
  auto state = live(env);
  return std::make_shared<ModelDenoiser>(state->pick(use_ema), state->lock, state->bf16, state->time_warp);
}

Napi::Value ModelHandle::Config(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), nlohmann::json(live(info.Env())->online->config()).dump());
}

Napi::Value ModelHandle::ParameterCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(live(info.Env())->online->parameter_count()));
}

// timeWarpStatistics() -> Tensor [2, 64] float32 (a CPU copy) of a model trained with the learned time warp, or null
Napi::Value ModelHandle::TimeWarpStatistics(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto stats = denoiser(env, /*use_ema=*/false)->time_warp_statistics();
    return stats.defined() ? TensorHandle::Wrap(env, stats) : env.Null();
  });
}

Napi::Value ModelHandle::ParameterNames(const Napi::CallbackInfo& info) {
  auto state = live(info.Env());
  auto params = state->online->named_parameters();
  auto out = Napi::Array::New(info.Env(), params.size());
  uint32_t i = 0;
  for (auto& item : params) out.Set(i++, item.key());
  return out;
}

// getParameter(name, useEma?) -> Tensor (a copy)
Napi::Value ModelHandle::GetParameter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto state = live(env);
    std::lock_guard<std::mutex> lock(*state->lock);
    bool use_ema = info.Length() > 1 && info[1].ToBoolean();
    return TensorHandle::Wrap(env, named_parameter(*state->pick(use_ema), string_arg(info, 0, "the parameter name")).detach().clone());
  });
}

// setParameter(name, tensor): copies values into the online weights (and the EMA, so the model stays consistent)
Napi::Value ModelHandle::SetParameter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto state = live(env);
    auto name = string_arg(info, 0, "the parameter name");
    auto value = TensorHandle::From(env, info[1], "the parameter value");
    std::lock_guard<std::mutex> lock(*state->lock);
    torch::NoGradGuard no_grad;
    for (auto model : {state->online, state->ema}) {
      if (!model) continue;
      auto p = named_parameter(*model, name);
      LCMD_CHECK(p.sizes() == value.sizes(), "E_SHAPE",
                 "parameter '" + name + "' has shape " + c10::str(p.sizes()) + ", got a tensor of shape " + c10::str(value.sizes()));
      LCMD_CHECK(at::isFloatingType(value.scalar_type()), "E_DTYPE", "parameter values must be floating point");
      p.copy_(value);
    }
    return env.Undefined();
  });
}

// forward(z [B,N,d] float, t [B] float, classes [B] int64 | null, useEma, token) -> Promise<logits [B,N,K]>
Napi::Value ModelHandle::Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto state = live(env);
    auto z = TensorHandle::From(env, info[0], "z");
    auto t = TensorHandle::From(env, info[1], "t");
    at::Tensor classes = info.Length() > 2 && info[2].IsObject() ? TensorHandle::From(env, info[2], "classes") : at::Tensor();
    bool use_ema = info.Length() > 3 && info[3].ToBoolean();
    auto denoiser = std::make_shared<ModelDenoiser>(state->pick(use_ema), state->lock, state->bf16);
    const auto& c = state->online->config();
    LCMD_CHECK(z.dim() == 3 && z.size(1) == c.num_tokens() && z.size(2) == c.embed_dim && at::isFloatingType(z.scalar_type()), "E_SHAPE",
               "expected float z of shape [B, " + std::to_string(c.num_tokens()) + ", " + std::to_string(c.embed_dim) + "], got " +
                   c10::str(z.sizes()));
    LCMD_CHECK(t.dim() == 1 && t.size(0) == z.size(0), "E_SHAPE", "expected t of shape [B] with B = z.shape[0]");
    if (classes.defined()) {
      LCMD_CHECK(c.num_classes > 0, "E_CONFIG", "classes were given but the model is unconditional");
      LCMD_CHECK(classes.dim() == 1 && classes.size(0) == z.size(0), "E_SHAPE", "expected classes of shape [B]");
      auto lo = classes.min().item<int64_t>(), hi = classes.max().item<int64_t>();
      LCMD_CHECK(lo >= 0 && hi <= c.num_classes, "E_RANGE", "classes must be in [0, numClasses] (numClasses = the null class)");
    }
    return run_async<at::Tensor>(
        env, info.Length() > 4 ? info[4] : env.Undefined(), env.Undefined(), {info.This().As<Napi::Object>()},
        [=](TaskContext&) {
          return denoiser->logits(z.to(at::kFloat), t.to(at::kFloat), classes.defined() ? classes.to(at::kLong) : classes).cpu();
        },
        [](Napi::Env env, at::Tensor& logits) -> Napi::Value { return TensorHandle::Wrap(env, logits); });
  });
}

Napi::Value ModelHandle::Device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), live(info.Env())->online->embedding()->table().device().str());
}

Napi::Value ModelHandle::Dispose(const Napi::CallbackInfo& info) {
  state_.reset();
  return info.Env().Undefined();
}

namespace {

// loadModel(path, useEma, device, token) -> Promise<ModelHandle> with the chosen weights (online also kept as EMA
// source when use_ema is false).
Napi::Value LoadModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto path = string_arg(info, 0, "the checkpoint path");
    bool use_ema = info.Length() > 1 && info[1].ToBoolean();
    auto device = info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : std::string("cpu");
    struct Loaded {
      std::shared_ptr<ModelState> state;
      std::map<std::string, std::string> metadata;
    };
    return run_async<Loaded>(
        env, info.Length() > 3 ? info[3] : env.Undefined(), env.Undefined(), {},
        [=](TaskContext&) {
          Loaded loaded;
          loaded.state = std::make_shared<ModelState>();
          loaded.state->online = load_model_weights(path, use_ema, device, &loaded.metadata, &loaded.state->time_warp);
          return loaded;
        },
        [](Napi::Env env, Loaded& loaded) -> Napi::Value {
          auto out = Napi::Object::New(env);
          out.Set("model", ModelHandle::Wrap(env, loaded.state));
          auto meta = Napi::Object::New(env);
          for (const auto& [k, v] : loaded.metadata) meta.Set(k, v);
          out.Set("metadata", meta);
          return out;
        });
  });
}

}  // namespace

void register_model(Napi::Env env, Napi::Object exports) {
  auto cls = ModelHandle::Define(env);
  data(env).model_class = Napi::Persistent(cls);
  register_denoiser_class<ModelHandle>(env, cls);
  exports.Set("ModelHandle", cls);
  exports.Set("loadModel", Napi::Function::New(env, LoadModel));
}

}  // namespace lcmd::addon
