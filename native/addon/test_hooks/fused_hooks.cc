// Test hooks for the fused kernels (core/fused/): each one's result beside plain libtorch's on the same input, so
// tests can compare the CPU twin of a CUDA kernel with an independent computation.
#include "addon/errors.h"
#include "core/base/error.h"
#include "addon/modules.h"
#include "addon/tensor_handle.h"
#include "core/fused/adaptive_norm.h"
#include "core/fused/cpu_features.h"
#include "core/fused/counter_noise_fill.h"
#include "core/fused/gelu.h"
#include "core/noise/counter_noise.h"
#include "core/noise/counter_noise_math.h"

namespace lcmd::addon {

namespace {

// fusedGelu(x, grad: Tensor handles of one shape) -> {fused, cpuPath, value, gradient, referenceValue, referenceGradient}.
// value and gradient come from fused::gelu through autograd (backward with `grad`); the references from torch::gelu
// in float64 and its autograd. All are returned in float64.
Napi::Value FusedGelu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto x = TensorHandle::From(env, info[0], "x");
    auto grad = TensorHandle::From(env, info[1], "grad");
    LCMD_CHECK(x.sizes() == grad.sizes(), "E_SHAPE", "x and grad must have the same shape");
    auto run = [&](const at::Tensor& input, const at::Tensor& g, bool fused) {
      auto leaf = input.detach().clone().set_requires_grad(true);
      auto y = fused ? fused::gelu(leaf) : torch::gelu(leaf);
      y.backward(g);
      return std::make_pair(y.detach().to(at::kDouble), leaf.grad().to(at::kDouble));
    };
    torch::AutoGradMode grad_mode(true);
    auto [value, gradient] = run(x, grad.to(x.scalar_type()), true);
    auto [ref_value, ref_gradient] = run(x.to(at::kDouble), grad.to(at::kDouble), false);
    auto out = Napi::Object::New(env);
    out.Set("fused", Napi::Boolean::New(env, fused::gelu_is_fused(x)));
    out.Set("cpuPath", Napi::String::New(env, fused::cpu_path()));
    out.Set("value", TensorHandle::Wrap(env, value));
    out.Set("gradient", TensorHandle::Wrap(env, gradient));
    out.Set("referenceValue", TensorHandle::Wrap(env, ref_value));
    out.Set("referenceGradient", TensorHandle::Wrap(env, ref_gradient));
    return out;
  });
}

// counterNoiseBuilds(seed, rows, m, normal) -> {cpuPath, value, baseline}: rows streams stream_key(seed, 0, r, 0) of m
// elements, as counter_normal / counter_uniform make them (the build this CPU runs, threaded) and from the baseline
// build alone, both [rows, m] float32.
Napi::Value CounterNoiseBuilds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    const auto seed = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
    const int64_t rows = info[1].As<Napi::Number>().Int64Value(), m = info[2].As<Napi::Number>().Int64Value();
    const bool normal = info[3].As<Napi::Boolean>().Value();
    LCMD_CHECK(rows >= 0 && m >= 0, "E_SHAPE", "rows and m must be non-negative");
    const ExampleStreams streams{seed, 0, 0, rows, 0};
    auto value = normal ? counter_normal(streams, m, at::kCPU) : counter_uniform(streams, m, at::kCPU);
    std::vector<uint64_t> keys(rows);
    for (int64_t r = 0; r < rows; ++r) keys[r] = stream_key(seed, 0, static_cast<uint64_t>(r), 0);
    auto baseline = torch::empty({rows, m}, at::kFloat);
    fused::fill_counter_noise(keys.data(), m, 0, rows * m, normal, baseline.data_ptr<float>(), fused::NoiseCpuPath::kBaseline);
    auto out = Napi::Object::New(env);
    out.Set("cpuPath", Napi::String::New(env, fused::counter_noise_cpu_path()));
    out.Set("value", TensorHandle::Wrap(env, value));
    out.Set("baseline", TensorHandle::Wrap(env, baseline));
    return out;
  });
}


// fusedAdaptiveNorm(h, r | null, scale, shift, gradY, gradX | null) -> {fused, x, y, gradH, gradR, gradScale, gradShift,
// and the same names prefixed "reference"}. The fused values come from fused::residual_adaptive_norm (or
// fused::adaptive_norm when r is null) through autograd, backward with gradY at y and gradX at x; the references from
// plain libtorch ops in float64 (layer_norm, the modulation, the add) and their autograd. All returned in float64.
Napi::Value FusedAdaptiveNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    const bool residual = !info[1].IsNull();
    auto h = TensorHandle::From(env, info[0], "h");
    auto r = residual ? TensorHandle::From(env, info[1], "r") : at::Tensor();
    auto scale = TensorHandle::From(env, info[2], "scale"), shift = TensorHandle::From(env, info[3], "shift");
    auto grad_y = TensorHandle::From(env, info[4], "gradY");
    auto grad_x = info[5].IsNull() ? at::Tensor() : TensorHandle::From(env, info[5], "gradX");
    LCMD_CHECK(!grad_x.defined() || residual, "E_USAGE", "gradX needs a residual r");
    torch::AutoGradMode grad_mode(true);
    auto leaf = [](const at::Tensor& t, at::ScalarType type) { return t.defined() ? t.detach().to(type).clone().set_requires_grad(true) : t; };
    auto run = [&](at::ScalarType type, bool fused) {
      auto lh = leaf(h, type), lr = leaf(r, type), la = leaf(scale, type), lb = leaf(shift, type);
      at::Tensor x, y;
      if (fused) {
        if (residual) std::tie(x, y) = fused::residual_adaptive_norm(lh, lr, la, lb, 1e-6);
        else y = fused::adaptive_norm(lh, la, lb, 1e-6);
      } else {
        x = residual ? lh + lr : lh;
        y = torch::layer_norm(x, {x.size(-1)}, {}, {}, 1e-6) * (1 + la.unsqueeze(1)) + lb.unsqueeze(1);
      }
      std::vector<at::Tensor> outputs{y}, grads{grad_y.to(y.scalar_type())};
      if (grad_x.defined()) {
        outputs.push_back(x);
        grads.push_back(grad_x.to(x.scalar_type()));
      }
      torch::autograd::backward(outputs, grads);
      auto d = [](const at::Tensor& t) { return t.defined() ? t.detach().to(at::kDouble) : t; };
      auto o = Napi::Object::New(env);
      auto set = [&](const char* name, const at::Tensor& t) { if (t.defined()) o.Set(name, TensorHandle::Wrap(env, d(t))); };
      set("x", residual ? x : at::Tensor());
      set("y", y);
      set("gradH", lh.grad());
      set("gradR", residual ? lr.grad() : at::Tensor());
      set("gradScale", la.grad());
      set("gradShift", lb.grad());
      return o;
    };
    auto out = Napi::Object::New(env);
    out.Set("fused", Napi::Boolean::New(env, fused::adaptive_norm_is_fused(h)));
    out.Set("value", run(h.scalar_type(), true));
    out.Set("reference", run(at::kDouble, false));
    return out;
  });
}
}  // namespace

void register_fused_hooks(Napi::Env env, Napi::Object exports) {
  exports.Set("fusedGelu", Napi::Function::New(env, FusedGelu));
  exports.Set("fusedAdaptiveNorm", Napi::Function::New(env, FusedAdaptiveNorm));
  exports.Set("counterNoiseBuilds", Napi::Function::New(env, CounterNoiseBuilds));
}

}  // namespace lcmd::addon
