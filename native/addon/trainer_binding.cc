// Bindings for training: create or resume a Trainer, run steps, save checkpoints, evaluate held-out data.
#include <nlohmann/json.hpp>

#include "addon/addon_data.h"
#include "addon/async_task.h"
#include "addon/model_handle.h"
#include "addon/modules.h"
#include "addon/tensor_handle.h"
#include "addon/trainer_handle.h"
#include "core/train/checkpoint.h"
#include "core/eval/evaluation.h"

namespace lcmd::addon {

namespace {

template <class T>
T parse_json_config(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) fail("E_TYPE", std::string("expected a JSON string for ") + what);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(info[i].As<Napi::String>().Utf8Value());
  } catch (const nlohmann::json::exception& e) {
    fail("E_CONFIG", std::string(what) + " is not valid JSON: " + e.what());
  }
  return j.get<T>();
}

Napi::Value token_arg(const Napi::CallbackInfo& info, size_t i) { return info.Length() > i ? info[i] : info.Env().Undefined(); }

at::Tensor optional_tensor(const Napi::CallbackInfo& info, size_t i, const char* what) {
  return info.Length() > i && info[i].IsObject() ? TensorHandle::From(info.Env(), info[i], what) : at::Tensor();
}

Napi::Object step_to_js(Napi::Env env, const StepResult& r) {
  auto o = Napi::Object::New(env);
  o.Set("step", double(r.step));
  o.Set("skipped", r.skipped);
  o.Set("loss", r.loss);
  o.Set("recon", r.recon);
  o.Set("ce", r.ce);
  o.Set("diff", r.diff);
  o.Set("cm", r.cm);
  o.Set("prior", r.prior);
  o.Set("accuracyT", r.accuracy_t);
  o.Set("gradNorm", r.grad_norm);
  o.Set("lr", r.lr);
  o.Set("lambdaCm", r.lambda_cm);
  o.Set("lambdaDiff", r.lambda_diff);
  return o;
}

Napi::Object stats_to_js(Napi::Env env, const EmbeddingStats& s) {
  auto o = Napi::Object::New(env);
  o.Set("meanNorm", s.mean_norm);
  o.Set("meanPairwiseDistance", s.mean_pairwise_dist);
  o.Set("minPairwiseDistance", s.min_pairwise_dist);
  o.Set("distanceToNorm", s.dist_to_norm);
  return o;
}

Napi::Object metadata_to_js(Napi::Env env, const std::map<std::string, std::string>& metadata) {
  auto meta = Napi::Object::New(env);
  for (const auto& [k, v] : metadata) meta.Set(k, v);
  return meta;
}

}  // namespace

Napi::Function TrainerHandle::Define(Napi::Env env) {
  return DefineClass(env, "TrainerHandle",
                     {
                         InstanceMethod("step", &TrainerHandle::Step),
                         InstanceMethod("save", &TrainerHandle::Save),
                         InstanceMethod("model", &TrainerHandle::Model),
                         InstanceMethod("evaluate", &TrainerHandle::Evaluate),
                         InstanceMethod("embeddingStats", &TrainerHandle::EmbeddingStatsJs),
                         InstanceMethod("loadCodebook", &TrainerHandle::LoadCodebook),
                         InstanceMethod("steps", &TrainerHandle::Steps),
                         InstanceMethod("config", &TrainerHandle::Config),
                         InstanceMethod("dispose", &TrainerHandle::Dispose),
                     });
}

// new TrainerHandle(modelConfigJson, trainConfigJson); new TrainerHandle() for Wrap().
TrainerHandle::TrainerHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TrainerHandle>(info) {
  if (info.Length() == 0) return;
  guard(info.Env(), [&] {
    auto model_config = parse_json_config<ModelConfig>(info, 0, "the model config");
    model_config.validate();
    auto train_config = parse_json_config<TrainConfig>(info, 1, "the train config");
    state_ = std::make_shared<TrainerState>();
    state_->trainer = std::make_unique<Trainer>(model_config, train_config);
  });
}

Napi::Object TrainerHandle::Wrap(Napi::Env env, std::shared_ptr<TrainerState> state) {
  auto obj = data(env).trainer_class.New({});
  Unwrap(obj)->state_ = std::move(state);
  return obj;
}

std::shared_ptr<TrainerState> TrainerHandle::From(Napi::Env env, Napi::Value value) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(data(env).trainer_class.Value()))
    throw make_error(env, "E_TYPE", "expected a Trainer");
  return Unwrap(value.As<Napi::Object>())->live(env);
}

std::shared_ptr<TrainerState> TrainerHandle::live(Napi::Env env) const {
  if (!state_) throw make_error(env, "E_DISPOSED", "this Trainer was disposed and can no longer be used");
  return state_;
}

// step(tokens [B,N], classes [B] | null, exampleOffset, token) -> Promise<StepResult>
Napi::Value TrainerHandle::Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto state = live(env);
    auto tokens = TensorHandle::From(env, info[0], "tokens");
    auto classes = optional_tensor(info, 1, "classes");
    int64_t offset = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int64Value() : 0;
    return run_async<StepResult>(
        env, token_arg(info, 3), env.Undefined(), {info.This().As<Napi::Object>()},
        [=](TaskContext& ctx) {
          ctx.throw_if_cancelled();
          std::lock_guard<std::mutex> lock(*state->lock);
          return state->trainer->step(tokens, classes, offset);
        },
        [](Napi::Env env, StepResult& r) -> Napi::Value { return step_to_js(env, r); });
  });
}

// save(path, metadata: Record<string, string>, token) -> Promise<void>
Napi::Value TrainerHandle::Save(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto state = live(env);
    LCMD_CHECK(info.Length() > 0 && info[0].IsString(), "E_TYPE", "expected a checkpoint path");
    auto path = info[0].As<Napi::String>().Utf8Value();
    std::map<std::string, std::string> metadata;
    if (info.Length() > 1 && info[1].IsObject()) {
      auto obj = info[1].As<Napi::Object>();
      auto keys = obj.GetPropertyNames();
      for (uint32_t i = 0; i < keys.Length(); ++i) {
        auto key = keys.Get(i).ToString().Utf8Value();
        metadata[key] = obj.Get(key).ToString().Utf8Value();
      }
    }
    return run_async<bool>(
        env, token_arg(info, 2), env.Undefined(), {info.This().As<Napi::Object>()},
        [=](TaskContext&) {
          std::lock_guard<std::mutex> lock(*state->lock);
          save_checkpoint(*state->trainer, path, metadata);
          return true;
        },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  });
}

// model() -> ModelHandle sharing the trainer's online and EMA modules and its lock
Napi::Value TrainerHandle::Model(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto state = live(env);
  auto model = std::make_shared<ModelState>();
  model->online = state->trainer->model();
  model->ema = state->trainer->ema();
  model->lock = state->lock;
  model->bf16 = state->trainer->train_config().precision == "bf16";
  if (state->trainer->time_warp()) model->time_warp = state->trainer->time_warp()->statistics();  // shares the storage
  return ModelHandle::Wrap(env, model);
}

// evaluate(tokens [n,N], classes | null, {importanceSamples, seed, batchSize, bins, useEma}, token)
//   -> Promise<{vlb: {...}, table: [...], embeddings: {...}}>
Napi::Value TrainerHandle::Evaluate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto state = live(env);
    auto tokens = TensorHandle::From(env, info[0], "tokens");
    auto classes = optional_tensor(info, 1, "classes");
    auto opts = info.Length() > 2 && info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env);
    auto number = [&](const char* key, double fallback) {
      auto v = opts.Get(key);
      return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
    };
    HeldoutOptions options;
    options.importance_samples = int64_t(number("importanceSamples", 4));
    options.bins = int64_t(number("bins", 10));
    options.batch_size = int64_t(number("batchSize", 64));
    options.seed = uint64_t(number("seed", 0));
    bool use_ema = !opts.Get("useEma").IsBoolean() || opts.Get("useEma").As<Napi::Boolean>().Value();
    return run_async<HeldoutReport>(
        env, token_arg(info, 3), env.Undefined(), {info.This().As<Napi::Object>()},
        [=](TaskContext& ctx) {
          std::lock_guard<std::mutex> lock(*state->lock);
          return evaluate_heldout(use_ema ? *state->trainer->ema() : *state->trainer->model(), tokens, classes, options, ctx);
        },
        [](Napi::Env env, HeldoutReport& r) -> Napi::Value {
          auto out = Napi::Object::New(env);
          auto vlb = Napi::Object::New(env);
          vlb.Set("reconBits", r.vlb.recon_bits);
          vlb.Set("priorBits", r.vlb.prior_bits);
          vlb.Set("diffusionBits", r.vlb.diffusion_bits);
          vlb.Set("diffusionStderrBits", r.vlb.diffusion_stderr_bits);
          vlb.Set("totalBits", r.vlb.total_bits);
          vlb.Set("tokens", double(r.vlb.tokens));
          out.Set("vlb", vlb);
          auto table = Napi::Array::New(env, r.table.size());
          for (size_t i = 0; i < r.table.size(); ++i) {
            auto row = Napi::Object::New(env);
            row.Set("tLow", r.table[i].t_low);
            row.Set("tHigh", r.table[i].t_high);
            row.Set("logsnr", r.table[i].logsnr_mid);
            row.Set("accuracy", r.table[i].accuracy);
            row.Set("crossEntropy", r.table[i].cross_entropy);
            table.Set(uint32_t(i), row);
          }
          out.Set("table", table);
          out.Set("embeddings", stats_to_js(env, r.embeddings));
          return out;
        });
  });
}

Napi::Value TrainerHandle::EmbeddingStatsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto state = live(env);
    std::lock_guard<std::mutex> lock(*state->lock);
    bool use_ema = info.Length() > 0 && info[0].ToBoolean();
    return stats_to_js(env, embedding_stats(use_ema ? *state->trainer->ema() : *state->trainer->model()));
  });
}

// loadCodebook(codebook [K, d] float tensor)
Napi::Value TrainerHandle::LoadCodebook(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto state = live(env);
    auto codebook = TensorHandle::From(env, info.Length() > 0 ? info[0] : env.Undefined(), "codebook");
    std::lock_guard<std::mutex> lock(*state->lock);
    state->trainer->load_codebook(codebook);
    return env.Undefined();
  });
}

Napi::Value TrainerHandle::Steps(const Napi::CallbackInfo& info) {
  auto state = live(info.Env());
  auto o = Napi::Object::New(info.Env());
  o.Set("steps", double(state->trainer->steps()));
  o.Set("skippedSteps", double(state->trainer->skipped_steps()));
  return o;
}

Napi::Value TrainerHandle::Config(const Napi::CallbackInfo& info) {
  auto state = live(info.Env());
  auto o = Napi::Object::New(info.Env());
  o.Set("model", nlohmann::json(state->trainer->model_config()).dump());
  o.Set("train", nlohmann::json(state->trainer->train_config()).dump());
  return o;
}

Napi::Value TrainerHandle::Dispose(const Napi::CallbackInfo& info) {
  state_.reset();
  return info.Env().Undefined();
}

namespace {

// loadTrainer(path, overridesJson, token) -> Promise<{trainer, metadata}>
Napi::Value LoadTrainer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    LCMD_CHECK(info.Length() > 0 && info[0].IsString(), "E_TYPE", "expected a checkpoint path");
    auto path = info[0].As<Napi::String>().Utf8Value();
    auto overrides = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : std::string();
    struct Loaded {
      std::shared_ptr<TrainerState> state;
      std::map<std::string, std::string> metadata;
    };
    return run_async<Loaded>(
        env, token_arg(info, 2), env.Undefined(), {},
        [=](TaskContext&) {
          Loaded loaded;
          loaded.state = std::make_shared<TrainerState>();
          loaded.state->trainer = load_checkpoint(path, overrides, &loaded.metadata);
          return loaded;
        },
        [](Napi::Env env, Loaded& loaded) -> Napi::Value {
          auto out = Napi::Object::New(env);
          out.Set("trainer", TrainerHandle::Wrap(env, loaded.state));
          out.Set("metadata", metadata_to_js(env, loaded.metadata));
          return out;
        });
  });
}

}  // namespace

void register_trainer(Napi::Env env, Napi::Object exports) {
  auto cls = TrainerHandle::Define(env);
  data(env).trainer_class = Napi::Persistent(cls);
  exports.Set("TrainerHandle", cls);
  exports.Set("loadTrainer", Napi::Function::New(env, LoadTrainer));
}

}  // namespace lcmd::addon
