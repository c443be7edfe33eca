// Test hooks for the fused kernels (core/fused/): each one's result beside plain libtorch's on the same input, so
// tests can compare the CPU twin of a CUDA kernel with an independent computation.
#include "addon/errors.h"
#include "core/base/error.h"
#include "addon/modules.h"
#include "addon/tensor_handle.h"
#include "core/fused/cpu_features.h"
#include "core/fused/gelu.h"

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

}  // namespace

void register_fused_hooks(Napi::Env env, Napi::Object exports) { exports.Set("fusedGelu", Napi::Function::New(env, FusedGelu)); }

}  // namespace lcmd::addon
