#include "core/model/dense.h"

#include "core/blas/onednn_gemm.h"

namespace lcmd {

namespace {

bool float32_cpu(const at::Tensor& t) { return t.device().is_cpu() && t.scalar_type() == at::kFloat; }

// Below about a thousand rows (the MLP's 512-row blocks when sampling) oneDNN's product gained nothing over OpenBLAS's
// (0.94 to 1.02 of its time at one thread), and the separate bias pass then costs more than it saves.
constexpr int64_t kOnednnMinRows = 1024;

// [..., in] -> [..., out]: the rows folded into one [M, in] x [in, out] product.
at::Tensor forward_rows(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  const int64_t in = weight.size(1), out = weight.size(0);
  auto rows = x.contiguous();
  auto w = weight.contiguous();
  const int64_t M = rows.numel() / in;
  auto sizes = x.sizes().vec();
  sizes.back() = out;
  auto y = at::empty({M, out}, x.options());
  // beta = 0 and the bias added after: oneDNN's sgemm runs its beta = 1 path (the product started from the bias) at
  // OpenBLAS's speed, and its beta = 0 path in 0.76 to 0.90 of OpenBLAS's time, which pays for the extra pass
  blas::onednn_sgemm(rows.data_ptr<float>(), w.data_ptr<float>(), y.data_ptr<float>(), M, out, in, true, 0.0f);
  if (bias.defined()) y.add_(bias);
  return y.view(sizes);
}

// No bias comes as an empty tensor: libtorch 1.13's Function::apply cannot take an undefined one.
struct DenseFunction : torch::autograd::Function<DenseFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
    const bool has_bias = bias.numel() > 0;
    ctx->save_for_backward({x, weight});
    ctx->saved_data["bias"] = has_bias;
    return forward_rows(x, weight, has_bias ? bias : at::Tensor());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& weight = saved[1];
    const int64_t in = weight.size(1), out = weight.size(0);
    auto g = grads[0].contiguous().view({-1, out});
    at::Tensor dx, dw, db;
    if (ctx->needs_input_grad(0)) {
      dx = at::empty({g.size(0), in}, g.options());
      auto w = weight.contiguous();
      blas::onednn_sgemm(g.data_ptr<float>(), w.data_ptr<float>(), dx.data_ptr<float>(), g.size(0), in, out, false, 0.0f);
      dx = dx.view(x.sizes());
    }
    if (ctx->needs_input_grad(1)) dw = g.t().mm(x.contiguous().view({-1, in}));
    if (ctx->saved_data["bias"].toBool() && ctx->needs_input_grad(2)) db = g.sum(0);
    return {dx, dw, db};
  }
};

}  // namespace

bool dense_uses_onednn(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  return blas::onednn_built() && float32_cpu(x) && float32_cpu(weight) && (!bias.defined() || float32_cpu(bias)) && weight.dim() == 2 &&
         x.dim() >= 1 && x.size(-1) == weight.size(1) && x.size(-1) > 0 && x.numel() / x.size(-1) >= kOnednnMinRows;
}

at::Tensor dense(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (!dense_uses_onednn(x, weight, bias)) return at::linear(x, weight, bias);
  const bool wants_grad =
      at::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad() || (bias.defined() && bias.requires_grad()));
  if (!wants_grad) return forward_rows(x, weight, bias);
  return DenseFunction::apply(x, weight, bias.defined() ? bias : at::empty({0}, weight.options()));
}

}  // namespace lcmd
