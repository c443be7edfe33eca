// Test-only hooks: not part of the product surface (lib/native.ts types them apart).
// Test hooks for the training objective: the loss terms for given weights and given noise (so an independent
// implementation can reproduce them exactly), and a float64 finite-difference check of their gradient.
#include <nlohmann/json.hpp>

#include "addon/async_task.h"
#include "addon/model_handle.h"
#include "addon/modules.h"
#include "addon/tensor_handle.h"
#include "core/train/objective.h"

namespace lcmd::addon {

namespace {

TrainConfig parse_train(const Napi::Value& value) {
  LCMD_CHECK(value.IsString(), "E_TYPE", "expected the train config as a JSON string");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(value.As<Napi::String>().Utf8Value());
  } catch (const nlohmann::json::exception& e) {
    fail("E_CONFIG", std::string("train config: ") + e.what());
  }
  auto c = j.get<TrainConfig>();
  c.validate();
  return c;
}

// noise: {t, s, tWeight?, epsT, eps0, dropUniforms, ratioUniforms, classUniforms, selfCondUniforms?}
TrainingNoise parse_noise(Napi::Env env, const Napi::Value& value, at::ScalarType type) {
  LCMD_CHECK(value.IsObject(), "E_TYPE", "expected a noise object");
  auto o = value.As<Napi::Object>();
  auto get = [&](const char* key) { return TensorHandle::From(env, o.Get(key), key).to(type); };
  TrainingNoise n;
  n.t = get("t");
  n.s = get("s");
  n.t_weight = o.Has("tWeight") && o.Get("tWeight").IsObject() ? get("tWeight").to(at::kDouble) : torch::ones_like(n.t, at::kDouble);
  n.eps_t = get("epsT");
  n.eps_0 = get("eps0");
  n.drop_uniforms = get("dropUniforms");
  n.ratio_uniforms = get("ratioUniforms");
  n.class_uniforms = get("classUniforms");
  // without them no example is self-conditioned (a uniform of 1 is never below the rate)
  n.self_cond_uniforms = o.Has("selfCondUniforms") && o.Get("selfCondUniforms").IsObject() ? get("selfCondUniforms") : torch::ones_like(n.t);
  return n;
}

Napi::Object terms_to_js(Napi::Env env, const LossTerms& terms) {
  auto o = Napi::Object::New(env);
  o.Set("total", terms.total.item<double>());
  o.Set("recon", terms.recon.item<double>());
  o.Set("ce", terms.ce.item<double>());
  o.Set("diff", terms.diff.item<double>());
  o.Set("cm", terms.cm.item<double>());
  o.Set("prior", terms.prior.item<double>());
  o.Set("accuracyT", terms.accuracy_t.item<double>());
  return o;
}

LcmdModel as_double(LcmdModel model) {
  auto copy = copy_model(*model);
  copy->to(at::kDouble);
  return copy;
}

// objectiveTerms(student, teacher, trainConfigJson, tokens, classes | null, noise, lambdaCm, lambdaDiff, train?: bool)
Napi::Value ObjectiveTerms(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto student = ModelHandle::From(env, info[0])->online;
    auto teacher = ModelHandle::From(env, info[1])->online;
    auto config = parse_train(info[2]);
    auto tokens = TensorHandle::From(env, info[3], "tokens").to(at::kLong);
    at::Tensor classes = info[4].IsObject() ? TensorHandle::From(env, info[4], "classes").to(at::kLong) : at::Tensor();
    auto noise = parse_noise(env, info[5], at::kFloat);
    double lambda_cm = info[6].As<Napi::Number>().DoubleValue(), lambda_diff = info[7].As<Napi::Number>().DoubleValue();
    bool was_training = student->is_training();
    student->train(info.Length() > 8 && info[8].ToBoolean());
    torch::NoGradGuard no_grad;
    auto terms = compute_losses(*student, *teacher, config, {tokens, classes, &noise, lambda_cm, lambda_diff});
    student->train(was_training);
    return terms_to_js(env, terms);
  });
}

// objectiveGradientCheck(student, teacher, trainConfigJson, tokens, classes | null, noise, lambdaCm, lambdaDiff,
//                        parameterName, flatIndices: number[], epsilon) -> {analytic: number[], numeric: number[]}
// Everything in float64 on copies; the model runs in eval mode (no dropout) so the loss is a deterministic function.
Napi::Value ObjectiveGradientCheck(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto student = as_double(ModelHandle::From(env, info[0])->online);
    // a separate teacher copy even when it is the student: the target carries no gradient, so it must stay fixed
    auto teacher = as_double(ModelHandle::From(env, info[1])->online);
    student->eval();
    teacher->eval();
    auto config = parse_train(info[2]);
    auto tokens = TensorHandle::From(env, info[3], "tokens").to(at::kLong);
    at::Tensor classes = info[4].IsObject() ? TensorHandle::From(env, info[4], "classes").to(at::kLong) : at::Tensor();
    auto noise = parse_noise(env, info[5], at::kDouble);
    noise.t = noise.t.to(at::kFloat).to(at::kDouble);
    double lambda_cm = info[6].As<Napi::Number>().DoubleValue(), lambda_diff = info[7].As<Napi::Number>().DoubleValue();
    auto name = info[8].As<Napi::String>().Utf8Value();
    auto indices_js = info[9].As<Napi::Array>();
    double epsilon = info[10].As<Napi::Number>().DoubleValue();
    at::Tensor param;
    for (auto& item : student->named_parameters())
      if (item.key() == name) param = item.value();
    LCMD_CHECK(param.defined(), "E_RANGE", "no parameter named '" + name + "'");
    ObjectiveInputs in{tokens, classes, &noise, lambda_cm, lambda_diff};
    auto terms = compute_losses(*student, *teacher, config, in);
    auto grad = torch::autograd::grad({terms.total}, {param})[0].reshape(-1);
    in.fixed_cm_log_q = terms.cm_log_q;  // autograd sees the stop-gradient target as a constant; so must the slope
    auto analytic = Napi::Array::New(env), numeric = Napi::Array::New(env);
    auto flat = param.view(-1);
    for (uint32_t i = 0; i < indices_js.Length(); ++i) {
      int64_t idx = int64_t(indices_js.Get(i).As<Napi::Number>().Int64Value());
      LCMD_CHECK(idx >= 0 && idx < flat.numel(), "E_RANGE", "flat index out of range");
      double plus, minus;
      {
        torch::NoGradGuard no_grad;
        double original = flat[idx].item<double>();
        flat[idx].fill_(original + epsilon);
        plus = compute_losses(*student, *teacher, config, in).total.item<double>();
        flat[idx].fill_(original - epsilon);
        minus = compute_losses(*student, *teacher, config, in).total.item<double>();
        flat[idx].fill_(original);
      }
      analytic.Set(i, grad[idx].item<double>());
      numeric.Set(i, (plus - minus) / (2 * epsilon));
    }
    auto out = Napi::Object::New(env);
    out.Set("analytic", analytic);
    out.Set("numeric", numeric);
    return out;
  });
}

}  // namespace

void register_objective_hooks(Napi::Env env, Napi::Object exports) {
  exports.Set("objectiveTerms", Napi::Function::New(env, ObjectiveTerms));
  exports.Set("objectiveGradientCheck", Napi::Function::New(env, ObjectiveGradientCheck));
}

}  // namespace lcmd::addon
