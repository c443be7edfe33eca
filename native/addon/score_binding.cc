// The sample-quality scorer as a JS class (create / load, train, embed, save) and the metrics over its features.
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "addon/addon_data.h"
#include "addon/async_task.h"
#include "addon/errors.h"
#include "addon/modules.h"
#include "addon/tensor_handle.h"
#include "core/base/error.h"
#include "core/score/sample_metrics.h"
#include "core/score/scorer.h"

namespace lcmd::addon {

namespace {

double number_field(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}

class ScorerHandle : public Napi::ObjectWrap<ScorerHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ScorerHandle",
                       {
                           InstanceMethod("train", &ScorerHandle::Train),
                           InstanceMethod("embed", &ScorerHandle::Embed),
                           InstanceMethod("save", &ScorerHandle::Save),
                           InstanceMethod("config", &ScorerHandle::Config),
                           InstanceMethod("dispose", &ScorerHandle::Dispose),
                       });
  }

  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<Scorer> scorer) {
    auto obj = data(env).scorer_class.New({});
    Unwrap(obj)->scorer_ = std::move(scorer);
    return obj;
  }

  explicit ScorerHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ScorerHandle>(info) {}

 private:
  std::shared_ptr<Scorer> live(Napi::Env env) const {
    if (!scorer_) throw make_error(env, "E_DISPOSED", "this Scorer was disposed and can no longer be used");
    return scorer_;
  }

  // train(images, labels, {steps, batchSize, lr, seed}, token?, onProgress?) -> Promise<{steps, loss, seconds}>
  Napi::Value Train(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto scorer = live(env);
      auto images = TensorHandle::From(env, info[0], "images");
      auto labels = TensorHandle::From(env, info[1], "labels");
      auto o = info[2].As<Napi::Object>();
      ScorerTrainOptions options;
      options.steps = int64_t(number_field(o, "steps", double(options.steps)));
      options.batch_size = int64_t(number_field(o, "batchSize", double(options.batch_size)));
      options.lr = number_field(o, "lr", options.lr);
      options.seed = uint64_t(number_field(o, "seed", 0));
      return run_async<ScorerTrainResult>(
          env, info[3], info[4], {Value(), info[0].As<Napi::Object>(), info[1].As<Napi::Object>()},
          [=](TaskContext& ctx) { return scorer->train(images, labels, options, ctx); },
          [](Napi::Env env, ScorerTrainResult& r) -> Napi::Value {
            auto out = Napi::Object::New(env);
            out.Set("steps", double(r.steps));
            out.Set("loss", r.loss);
            out.Set("seconds", r.seconds);
            return out;
          });
    });
  }

  // embed(images, batchSize, token?) -> Promise<{features: TensorHandle [n, F], classes: TensorHandle int64 [n]}>
  Napi::Value Embed(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto scorer = live(env);
      auto images = TensorHandle::From(env, info[0], "images");
      int64_t batch = int64_t(info[1].As<Napi::Number>().Int64Value());
      return run_async<ScorerOutputs>(
          env, info[2], env.Undefined(), {Value(), info[0].As<Napi::Object>()},
          [=](TaskContext& ctx) { return scorer->embed(images, batch, ctx); },
          [](Napi::Env env, ScorerOutputs& r) -> Napi::Value {
            auto out = Napi::Object::New(env);
            out.Set("features", TensorHandle::Wrap(env, r.features));
            out.Set("classes", TensorHandle::Wrap(env, r.classes.to(at::kInt)));
            return out;
          });
    });
  }

  // save(path) -> Promise<void>
  Napi::Value Save(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto scorer = live(env);
      std::string path = info[0].As<Napi::String>().Utf8Value();
      return run_async<bool>(
          env, env.Undefined(), env.Undefined(), {Value()},
          [=](TaskContext&) {
            scorer->save(path);
            return true;
          },
          [](Napi::Env env, bool&) { return env.Undefined(); });
    });
  }

  Napi::Value Config(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value { return Napi::String::New(env, live(env)->config().to_json().dump()); });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    scorer_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<Scorer> scorer_;
};

// createScorer(configJson, seed) -> ScorerHandle
Napi::Value CreateScorer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    nlohmann::json json = nlohmann::json::parse(info[0].As<Napi::String>().Utf8Value(), nullptr, false);
    LCMD_CHECK(!json.is_discarded(), "E_CONFIG", "the scorer config is not valid JSON");
    return ScorerHandle::Wrap(env, std::make_shared<Scorer>(ScorerConfig::from_json(json), uint64_t(info[1].As<Napi::Number>().Int64Value())));
  });
}

// loadScorer(path) -> Promise<ScorerHandle>
Napi::Value LoadScorer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    std::string path = info[0].As<Napi::String>().Utf8Value();
    return run_async<std::shared_ptr<Scorer>>(
        env, env.Undefined(), env.Undefined(), {}, [=](TaskContext&) { return Scorer::load(path); },
        [](Napi::Env env, std::shared_ptr<Scorer>& s) -> Napi::Value { return ScorerHandle::Wrap(env, s); });
  });
}

// sampleMetrics(realFeatures, generatedFeatures, kPr, kDc) -> Promise<{frechetDistance, sqrtResidual, precision, ...}>
Napi::Value SampleMetrics(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto real = TensorHandle::From(env, info[0], "real features");
    auto generated = TensorHandle::From(env, info[1], "generated features");
    int64_t k_pr = info[2].As<Napi::Number>().Int64Value(), k_dc = info[3].As<Napi::Number>().Int64Value();
    struct Result {
      FrechetResult fd;
      PrdcResult prdc;
    };
    return run_async<Result>(
        env, env.Undefined(), env.Undefined(), {info[0].As<Napi::Object>(), info[1].As<Napi::Object>()},
        [=](TaskContext&) { return Result{frechet_distance(real, generated), precision_recall_density_coverage(real, generated, k_pr, k_dc)}; },
        [](Napi::Env env, Result& r) -> Napi::Value {
          auto out = Napi::Object::New(env);
          out.Set("frechetDistance", r.fd.distance);
          out.Set("sqrtResidual", r.fd.sqrt_residual);
          out.Set("precision", r.prdc.precision);
          out.Set("recall", r.prdc.recall);
          out.Set("density", r.prdc.density);
          out.Set("coverage", r.prdc.coverage);
          return out;
        });
  });
}

// duplicateFraction(rows) -> number
Napi::Value DuplicateFraction(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value { return Napi::Number::New(env, duplicate_fraction(TensorHandle::From(env, info[0], "rows"))); });
}

}  // namespace

void register_score(Napi::Env env, Napi::Object exports) {
  data(env).scorer_class = Napi::Persistent(ScorerHandle::Define(env));
  exports.Set("createScorer", Napi::Function::New(env, CreateScorer));
  exports.Set("loadScorer", Napi::Function::New(env, LoadScorer));
  exports.Set("sampleMetrics", Napi::Function::New(env, SampleMetrics));
  exports.Set("duplicateFraction", Napi::Function::New(env, DuplicateFraction));
}

}  // namespace lcmd::addon
