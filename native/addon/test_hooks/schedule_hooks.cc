// Test hooks for the noise schedule (core/schedule.h): its values, the posterior coefficients and the DDIM step,
// so tests can compare them with closed forms computed independently in TypeScript.
#include <cstring>

#include "addon/errors.h"
#include "addon/modules.h"
#include "addon/tensor_handle.h"
#include "core/base/error.h"
#include "core/diffusion/ancestral_step.h"
#include "core/diffusion/ddim_step.h"
#include "core/diffusion/schedule.h"
#include "core/noise/counter_noise_math.h"
#include "core/sample/sampler_time_grid.h"

namespace lcmd::addon {

namespace {

at::Tensor doubles_in(const Napi::Value& value, const char* what) {
  LCMD_CHECK(value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_float64_array, "E_TYPE",
             std::string("expected a Float64Array for ") + what);
  auto array = value.As<Napi::Float64Array>();
  return torch::from_blob(array.Data(), {int64_t(array.ElementLength())}, at::kDouble).clone();
}

Napi::Value doubles_out(Napi::Env env, const at::Tensor& tensor) {
  auto values = tensor.to(at::kDouble).contiguous().reshape(-1);
  auto array = Napi::Float64Array::New(env, size_t(values.numel()));
  std::memcpy(array.Data(), values.data_ptr<double>(), sizeof(double) * size_t(values.numel()));
  return array;
}

double number_in(const Napi::CallbackInfo& info, size_t i, const char* what) {
  LCMD_CHECK(info.Length() > i && info[i].IsNumber(), "E_TYPE", std::string("expected a number for ") + what);
  return info[i].As<Napi::Number>().DoubleValue();
}

// scheduleValues(t: Float64Array, shift, maxLogsnr) -> {logsnr, alpha, sigma, dlogsnr}: Float64Arrays
Napi::Value ScheduleValues(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto t = doubles_in(info[0], "t");
    NoiseSchedule schedule(number_in(info, 1, "shift"), number_in(info, 2, "maxLogsnr"));
    auto out = Napi::Object::New(env);
    out.Set("logsnr", doubles_out(env, schedule.logsnr(t)));
    out.Set("alpha", doubles_out(env, schedule.alpha(t)));
    out.Set("sigma", doubles_out(env, schedule.sigma(t)));
    out.Set("dlogsnr", doubles_out(env, schedule.dlogsnr_dt(t)));
    return out;
  });
}

// posteriorCoefficients(alphaS, sigmaS, alphaT, sigmaT: Float64Array) -> {coefZ, coefX, variance}: Float64Arrays
Napi::Value PosteriorCoefficientsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto alpha_s = doubles_in(info[0], "alphaS"), sigma_s = doubles_in(info[1], "sigmaS"), alpha_t = doubles_in(info[2], "alphaT"),
         sigma_t = doubles_in(info[3], "sigmaT");
    const int64_t n = alpha_s.numel();
    LCMD_CHECK(sigma_s.numel() == n && alpha_t.numel() == n && sigma_t.numel() == n, "E_SHAPE", "the four arrays must have one length");
    auto coef_z = torch::empty({n}, at::kDouble), coef_x = torch::empty({n}, at::kDouble), var = torch::empty({n}, at::kDouble);
    for (int64_t i = 0; i < n; ++i) {
      const auto c = posterior_coefficients({alpha_s[i].item<double>(), sigma_s[i].item<double>(), alpha_t[i].item<double>(), sigma_t[i].item<double>()});
      coef_z[i] = c.coef_z;
      coef_x[i] = c.coef_x;
      var[i] = c.var;
    }
    auto out = Napi::Object::New(env);
    out.Set("coefZ", doubles_out(env, coef_z));
    out.Set("coefX", doubles_out(env, coef_x));
    out.Set("variance", doubles_out(env, var));
    return out;
  });
}

// ddimStep(zT, eHat, alphaS, sigmaS, alphaT, sigmaT: Tensor handles, coefficients broadcastable against zT) -> Tensor
Napi::Value DdimStepJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto z = TensorHandle::From(env, info[0], "zT");
    auto e = TensorHandle::From(env, info[1], "eHat");
    LCMD_CHECK(z.sizes() == e.sizes(), "E_SHAPE", "zT and eHat must have the same shape");
    return TensorHandle::Wrap(env, ddim_step(z, e, TensorHandle::From(env, info[2], "alphaS"), TensorHandle::From(env, info[3], "sigmaS"),
                                             TensorHandle::From(env, info[4], "alphaT"), TensorHandle::From(env, info[5], "sigmaT")));
  });
}

// timeGrid(steps, shift, gridShift, warpStatistics?) -> Float64Array of the T + 1 sampling times t_0 .. t_T; with a
// Tensor of time-warp statistics [2, 64], the learned grid (shift and gridShift unused)
Napi::Value TimeGrid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    const auto steps = static_cast<int64_t>(number_in(info, 0, "steps"));
    if (info.Length() > 3 && !info[3].IsUndefined())
      return doubles_out(env, torch::tensor(learned_time_grid(steps, TensorHandle::From(env, info[3], "warpStatistics")), at::kDouble));
    NoiseSchedule schedule(number_in(info, 1, "shift"));
    auto grid = time_grid(steps, schedule, number_in(info, 2, "gridShift"));
    return doubles_out(env, torch::tensor(grid, at::kDouble));
  });
}

// uniformFromBits(BigUint64Array of random words) -> Float32Array of the uniforms they map to
Napi::Value UniformFromBits(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    LCMD_CHECK(info.Length() > 0 && info[0].IsTypedArray() && info[0].As<Napi::TypedArray>().TypedArrayType() == napi_biguint64_array,
               "E_TYPE", "expected a BigUint64Array of random words");
    auto words = info[0].As<Napi::TypedArrayOf<uint64_t>>();
    auto out = Napi::Float32Array::New(env, words.ElementLength());
    for (size_t i = 0; i < words.ElementLength(); ++i) out[i] = uniform_from_bits(words[i]);
    return out;
  });
}

}  // namespace

void register_schedule_hooks(Napi::Env env, Napi::Object exports) {
  exports.Set("uniformFromBits", Napi::Function::New(env, UniformFromBits));
  exports.Set("scheduleValues", Napi::Function::New(env, ScheduleValues));
  exports.Set("posteriorCoefficients", Napi::Function::New(env, PosteriorCoefficientsJs));
  exports.Set("ddimStep", Napi::Function::New(env, DdimStepJs));
  exports.Set("timeGrid", Napi::Function::New(env, TimeGrid));
}

}  // namespace lcmd::addon
