// The VQ-VAE tokenizer as a JS class: create / load, then train, encode, decode, evaluate and save, each long
// call on the libuv pool with cancellation and progress.
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "addon/addon_data.h"
#include "addon/async_task.h"
#include "addon/errors.h"
#include "addon/modules.h"
#include "addon/tensor_handle.h"
#include "core/base/error.h"
#include "core/tokenizer/vqvae.h"

namespace lcmd::addon {

namespace {

int64_t integer_option(Napi::Object o, const char* key, int64_t fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  LCMD_CHECK(v.IsNumber(), "E_TYPE", std::string(key) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  LCMD_CHECK(d == static_cast<double>(static_cast<int64_t>(d)) && std::abs(d) <= 9007199254740991.0, "E_RANGE",
             std::string(key) + " must be an integer, got " + std::to_string(d));
  return static_cast<int64_t>(d);
}

int64_t batch_arg(const Napi::CallbackInfo& info, size_t index) {
  LCMD_CHECK(info.Length() > index && info[index].IsNumber(), "E_TYPE", "expected a batch size");
  int64_t b = info[index].As<Napi::Number>().Int64Value();
  LCMD_CHECK(b >= 1, "E_RANGE", "the batch size must be a positive integer, got " + std::to_string(b));
  return b;
}

class TokenizerHandle : public Napi::ObjectWrap<TokenizerHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "TokenizerHandle",
                       {
                           InstanceMethod("train", &TokenizerHandle::Train),
                           InstanceMethod("encode", &TokenizerHandle::Encode),
                           InstanceMethod("decode", &TokenizerHandle::Decode),
                           InstanceMethod("evaluate", &TokenizerHandle::Evaluate),
                           InstanceMethod("save", &TokenizerHandle::Save),
                           InstanceMethod("config", &TokenizerHandle::Config),
                           InstanceMethod("stepsTrained", &TokenizerHandle::StepsTrained),
                           InstanceMethod("dispose", &TokenizerHandle::Dispose),
                       });
  }

  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<VqVae> model) {
    auto obj = data(env).tokenizer_class.New({});
    Unwrap(obj)->model_ = std::move(model);
    return obj;
  }

  explicit TokenizerHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TokenizerHandle>(info) {}

 private:
  std::shared_ptr<VqVae> live(Napi::Env env) const {
    if (!model_) throw make_error(env, "E_DISPOSED", "this Tokenizer was disposed and can no longer be used");
    return model_;
  }

  // train(images, {steps, batchSize, lr, seed, reportEvery}, token?, onProgress?) -> Promise<result>
  Napi::Value Train(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto model = live(env);
      at::Tensor images = TensorHandle::From(env, info[0], "images");
      LCMD_CHECK(info.Length() > 1 && info[1].IsObject(), "E_TYPE", "train expects an options object");
      auto o = info[1].As<Napi::Object>();
      VqTrainOptions options;
      options.steps = integer_option(o, "steps", options.steps);
      options.batch_size = integer_option(o, "batchSize", options.batch_size);
      options.seed = static_cast<uint64_t>(integer_option(o, "seed", 0));
      options.report_every = integer_option(o, "reportEvery", options.report_every);
      Napi::Value lr = o.Get("lr");
      if (lr.IsNumber()) options.lr = lr.As<Napi::Number>().DoubleValue();
      return run_async<VqTrainResult>(
          env, info[2], info[3], {Value(), info[0].As<Napi::Object>()},
          [=](TaskContext& ctx) { return model->train(images, options, ctx); },
          [](Napi::Env env, VqTrainResult& r) -> Napi::Value {
            auto out = Napi::Object::New(env);
            out.Set("steps", Napi::Number::New(env, double(r.steps)));
            out.Set("loss", r.loss);
            out.Set("reconstruction", r.reconstruction);
            out.Set("commitment", r.commitment);
            out.Set("perplexity", r.perplexity);
            out.Set("usage", r.usage);
            out.Set("restarted", Napi::Number::New(env, double(r.restarted)));
            out.Set("seconds", r.seconds);
            return out;
          });
    });
  }

  // encode(images, batchSize, token?) -> Promise<TensorHandle int32 [n, h, w]>
  Napi::Value Encode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto model = live(env);
      at::Tensor images = TensorHandle::From(env, info[0], "images");
      int64_t batch = batch_arg(info, 1);
      return run_async<at::Tensor>(
          env, info[2], env.Undefined(), {Value(), info[0].As<Napi::Object>()},
          [=](TaskContext& ctx) { return model->encode(images, batch, ctx); },
          [](Napi::Env env, at::Tensor& t) -> Napi::Value { return TensorHandle::Wrap(env, t); });
    });
  }

  // decode(tokens [n, h, w] or [n, N], batchSize, grid: [h, w] | undefined, token?) -> Promise<TensorHandle float32>
  Napi::Value Decode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto model = live(env);
      at::Tensor tokens = TensorHandle::From(env, info[0], "tokens");
      int64_t batch = batch_arg(info, 1);
      if (tokens.dim() == 2 && info.Length() > 2 && info[2].IsArray()) {
        auto grid = info[2].As<Napi::Array>();
        LCMD_CHECK(grid.Length() == 2, "E_SHAPE", "grid must be [h, w]");
        int64_t h = grid.Get(0u).As<Napi::Number>().Int64Value(), w = grid.Get(1u).As<Napi::Number>().Int64Value();
        LCMD_CHECK(h > 0 && w > 0 && h * w == tokens.size(1), "E_SHAPE",
                   "tokens of length " + std::to_string(tokens.size(1)) + " do not fill a " + std::to_string(h) + "x" +
                       std::to_string(w) + " grid");
        tokens = tokens.reshape({tokens.size(0), h, w});
      }
      return run_async<at::Tensor>(
          env, info[3], env.Undefined(), {Value(), info[0].As<Napi::Object>()},
          [=](TaskContext& ctx) { return model->decode(tokens, batch, ctx); },
          [](Napi::Env env, at::Tensor& t) -> Napi::Value { return TensorHandle::Wrap(env, t); });
    });
  }

  // evaluate(images, batchSize, token?) -> Promise<{count, mse, psnr, usage, perplexity}>
  Napi::Value Evaluate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto model = live(env);
      at::Tensor images = TensorHandle::From(env, info[0], "images");
      int64_t batch = batch_arg(info, 1);
      return run_async<VqEvaluation>(
          env, info[2], env.Undefined(), {Value(), info[0].As<Napi::Object>()},
          [=](TaskContext& ctx) { return model->evaluate(images, batch, ctx); },
          [](Napi::Env env, VqEvaluation& e) -> Napi::Value {
            auto out = Napi::Object::New(env);
            out.Set("count", Napi::Number::New(env, double(e.count)));
            out.Set("mse", e.mse);
            out.Set("psnr", e.psnr);
            out.Set("usage", e.usage);
            out.Set("perplexity", e.perplexity);
            return out;
          });
    });
  }

  // save(path) -> Promise<void>
  Napi::Value Save(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto model = live(env);
      LCMD_CHECK(info.Length() > 0 && info[0].IsString(), "E_TYPE", "save expects a path string");
      std::string path = info[0].As<Napi::String>().Utf8Value();
      return run_async<bool>(
          env, env.Undefined(), env.Undefined(), {Value()},
          [=](TaskContext&) {
            model->save(path);
            return true;
          },
          [](Napi::Env env, bool&) { return env.Undefined(); });
    });
  }

  Napi::Value Config(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value { return Napi::String::New(env, live(env)->config().to_json().dump()); });
  }

  Napi::Value StepsTrained(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value { return Napi::Number::New(env, double(live(env)->steps_trained())); });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    model_.reset();  // in-flight calls hold their own reference and finish first
    return info.Env().Undefined();
  }

  std::shared_ptr<VqVae> model_;
};

// createTokenizer(configJson, seed) -> TokenizerHandle
Napi::Value CreateTokenizer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    LCMD_CHECK(info.Length() >= 1 && info[0].IsString(), "E_TYPE", "createTokenizer expects a JSON config string");
    nlohmann::json json = nlohmann::json::parse(info[0].As<Napi::String>().Utf8Value(), nullptr, false);
    LCMD_CHECK(!json.is_discarded(), "E_CONFIG", "the tokenizer config is not valid JSON");
    uint64_t seed = info.Length() > 1 && info[1].IsNumber() ? static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value()) : 0;
    return TokenizerHandle::Wrap(env, std::make_shared<VqVae>(VqVaeConfig::from_json(json), seed));
  });
}

// loadTokenizer(path) -> Promise<TokenizerHandle>
Napi::Value LoadTokenizer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    LCMD_CHECK(info.Length() >= 1 && info[0].IsString(), "E_TYPE", "loadTokenizer expects a path string");
    std::string path = info[0].As<Napi::String>().Utf8Value();
    return run_async<std::shared_ptr<VqVae>>(
        env, env.Undefined(), env.Undefined(), {}, [=](TaskContext&) { return VqVae::load(path); },
        [](Napi::Env env, std::shared_ptr<VqVae>& m) -> Napi::Value { return TokenizerHandle::Wrap(env, m); });
  });
}

}  // namespace

void register_tokenizer(Napi::Env env, Napi::Object exports) {
  data(env).tokenizer_class = Napi::Persistent(TokenizerHandle::Define(env));
  exports.Set("createTokenizer", Napi::Function::New(env, CreateTokenizer));
  exports.Set("loadTokenizer", Napi::Function::New(env, LoadTokenizer));
}

}  // namespace lcmd::addon
