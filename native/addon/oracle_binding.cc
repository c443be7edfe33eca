// OracleDenoiser: the exact mixture denoiser of core/oracle_denoiser.h as a JS object the sampler accepts as a
// model. A test and analysis tool, not a model.
#include "addon/addon_data.h"
#include "addon/denoiser_handle.h"
#include "addon/errors.h"
#include "addon/modules.h"
#include "addon/tensor_handle.h"
#include "core/base/error.h"
#include "core/sample/oracle_denoiser.h"

namespace lcmd::addon {

namespace {

class OracleDenoiserHandle : public Napi::ObjectWrap<OracleDenoiserHandle>, public DenoiserProvider {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "OracleDenoiser",
                       {InstanceMethod("logits", &OracleDenoiserHandle::Logits), InstanceMethod("info", &OracleDenoiserHandle::Info),
                        InstanceMethod("dispose", &OracleDenoiserHandle::Dispose),
                        InstanceMethod("isDisposed", &OracleDenoiserHandle::IsDisposed)});
  }

  // new OracleDenoiser(grids [M, H, W] int, embeddings [K, d] float, options {classes?, numClasses?, weights?,
  // classLeak?, shift?, device?})
  explicit OracleDenoiserHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<OracleDenoiserHandle>(info) {
    Napi::Env env = info.Env();
    guard(env, [&] {
      LCMD_CHECK(info.Length() >= 2, "E_TYPE", "OracleDenoiser expects (grids, embeddings, options?)");
      auto grids = TensorHandle::From(env, info[0], "the oracle grids");
      LCMD_CHECK(grids.dim() == 3, "E_SHAPE", "oracle grids must have shape [M, H, W], got " + std::to_string(grids.dim()) + " dimensions");
      height_ = grids.size(1);
      width_ = grids.size(2);
      OracleData data;
      data.grids = grids.reshape({grids.size(0), height_ * width_});
      data.embeddings = TensorHandle::From(env, info[1], "the oracle embeddings");
      if (info.Length() >= 3 && info[2].IsObject()) {
        auto options = info[2].As<Napi::Object>();
        auto number = [&](const char* key, double fallback) {
          Napi::Value v = options.Get(key);
          if (v.IsUndefined()) return fallback;
          LCMD_CHECK(v.IsNumber(), "E_TYPE", std::string("oracle option ") + key + " must be a number");
          return v.As<Napi::Number>().DoubleValue();
        };
        if (!options.Get("classes").IsUndefined()) data.classes = TensorHandle::From(env, options.Get("classes"), "the oracle classes");
        if (!options.Get("weights").IsUndefined()) data.weights = TensorHandle::From(env, options.Get("weights"), "the oracle weights");
        const double num_classes = number("numClasses", 0);
        LCMD_CHECK(num_classes >= 0 && num_classes == std::floor(num_classes) && num_classes < 1e9, "E_RANGE",
                   "numClasses must be a non-negative integer");
        data.num_classes = static_cast<int64_t>(num_classes);
        data.class_leak = number("classLeak", 0.0);
        data.shift = number("shift", 0.1);
        Napi::Value device = options.Get("device");
        if (!device.IsUndefined()) {
          LCMD_CHECK(device.IsString(), "E_TYPE", "oracle option device must be a string such as 'cpu' or 'cuda:0'");
          data.device = c10::Device(device.As<Napi::String>().Utf8Value());
          LCMD_CHECK(!data.device.is_cuda() || torch::cuda::is_available(), "E_DEVICE", "CUDA is not available for the oracle");
        }
      }
      oracle_ = std::make_shared<OracleDenoiser>(std::move(data));
    });
  }

  std::shared_ptr<lcmd::Denoiser> denoiser(Napi::Env env, bool /*use_ema: the oracle has no EMA*/) override { return live(env); }

 private:
  std::shared_ptr<OracleDenoiser> live(Napi::Env env) const {
    if (!oracle_) throw make_error(env, "E_DISPOSED", "this oracle denoiser was disposed and can no longer be used");
    return oracle_;
  }

  // logits(z [B, N, d], t [B], classes? [B]) -> [B, N, K] float32, synchronously (the oracle is small).
  Napi::Value Logits(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto oracle = live(env);
      auto z = TensorHandle::From(env, info[0], "z");
      auto t = TensorHandle::From(env, info[1], "t");
      at::Tensor classes;
      if (info.Length() >= 3 && !info[2].IsUndefined() && !info[2].IsNull()) classes = TensorHandle::From(env, info[2], "classes");
      LCMD_CHECK(at::isFloatingType(z.scalar_type()) && at::isFloatingType(t.scalar_type()), "E_DTYPE", "z and t must be floating point");
      torch::NoGradGuard no_grad;
      return TensorHandle::Wrap(env, oracle->logits(z.to(at::kFloat), t.to(at::kFloat), classes.defined() ? classes.to(at::kLong) : classes)
                                         .to(at::kCPU));
    });
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto oracle = live(env);
    auto out = Napi::Object::New(env);
    out.Set("height", Napi::Number::New(env, double(height_)));
    out.Set("width", Napi::Number::New(env, double(width_)));
    out.Set("numTokens", Napi::Number::New(env, double(oracle->num_tokens())));
    out.Set("vocabSize", Napi::Number::New(env, double(oracle->vocab_size())));
    out.Set("embedDim", Napi::Number::New(env, double(oracle->embed_dim())));
    out.Set("numClasses", Napi::Number::New(env, double(oracle->num_classes())));
    out.Set("shift", Napi::Number::New(env, oracle->schedule().shift()));
    out.Set("device", Napi::String::New(env, oracle->device().str()));
    return out;
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    oracle_.reset();  // a running sampler keeps its own reference until it finishes
    return info.Env().Undefined();
  }

  Napi::Value IsDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !oracle_); }

  std::shared_ptr<OracleDenoiser> oracle_;
  int64_t height_ = 0;
  int64_t width_ = 0;
};

}  // namespace

void register_oracle(Napi::Env env, Napi::Object exports) {
  auto constructor = OracleDenoiserHandle::Define(env);
  register_denoiser_class<OracleDenoiserHandle>(env, constructor);
  exports.Set("OracleDenoiser", constructor);
}

}  // namespace lcmd::addon
