#include "core/model/mlp.h"

#include "core/fused/gelu.h"
#include "core/model/dense.h"

namespace lcmd {

bool mlp_in_row_blocks(const at::Tensor& normed) {
  const bool wants_grad = at::GradMode::is_enabled() && normed.requires_grad();
  return normed.device().is_cpu() && normed.scalar_type() == at::kFloat && !wants_grad && normed.numel() / normed.size(-1) > kMlpBlockRows;
}

at::Tensor mlp_residual(const torch::nn::Linear& fc1, const torch::nn::Linear& fc2, const at::Tensor& x, const at::Tensor& normed) {
  if (!mlp_in_row_blocks(normed)) return x + dense(fc2, fused::gelu(dense(fc1, normed)));
  const int64_t hidden = normed.size(-1), rows = normed.numel() / hidden;
  const auto in = normed.reshape({rows, hidden});
  const auto residual = x.reshape({rows, hidden});
  auto out = torch::empty({rows, hidden}, normed.options());
  const auto w1 = fc1->weight.t(), w2 = fc2->weight.t();
  for (int64_t first = 0; first < rows; first += kMlpBlockRows) {
    const int64_t n = std::min(kMlpBlockRows, rows - first);
    auto block = out.narrow(0, first, n);
    at::addmm_out(block, fc2->bias, fused::gelu_forward(at::addmm(fc1->bias, in.narrow(0, first, n), w1)), w2);
    block.add_(residual.narrow(0, first, n));
  }
  return out.view(x.sizes());
}

}  // namespace lcmd
