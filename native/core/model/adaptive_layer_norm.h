// AdaLN(h, y) = (1 + a(y)) * LayerNorm(h) + b(y): conditioning on noise level and class (docs/method.md section 5).
// The modulation starts at zero, so every block starts as a plain pre-norm block. The normalisation runs as one fused
// kernel (core/fused/adaptive_norm.h), optionally with the residual add that produces its input.
#pragma once
#include <torch/torch.h>

#include <utility>

namespace lcmd {

class AdaptiveLayerNormImpl : public torch::nn::Module {
 public:
  AdaptiveLayerNormImpl(int64_t hidden, int64_t cond_dim);
  // h: [B, N, hidden]; y_act: SiLU(y), [B, cond_dim]
  at::Tensor forward(const at::Tensor& h, const at::Tensor& y_act);
  // {x, AdaLN(x)} for x = h + r: the residual add and the normalisation in one pass
  std::pair<at::Tensor, at::Tensor> forward_residual(const at::Tensor& h, const at::Tensor& r, const at::Tensor& y_act);

 private:
  // the modulation's scale a(y) and shift b(y), each [B, hidden]
  std::pair<at::Tensor, at::Tensor> modulation(const at::Tensor& y_act);

  double eps_ = 1e-6;
  torch::nn::Linear modulation_{nullptr};
};
TORCH_MODULE(AdaptiveLayerNorm);

}  // namespace lcmd
