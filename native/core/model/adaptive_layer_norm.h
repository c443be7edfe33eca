// AdaLN(h, y) = (1 + a(y)) * LayerNorm(h) + b(y): conditioning on noise level and class (docs/method.md section 5).
// The modulation starts at zero, so every block starts as a plain pre-norm block.
#pragma once
#include <torch/torch.h>

namespace lcmd {

class AdaptiveLayerNormImpl : public torch::nn::Module {
 public:
  AdaptiveLayerNormImpl(int64_t hidden, int64_t cond_dim);
  // h: [B, N, hidden]; y_act: SiLU(y), [B, cond_dim]
  at::Tensor forward(const at::Tensor& h, const at::Tensor& y_act);

 private:
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Linear modulation_{nullptr};
};
TORCH_MODULE(AdaptiveLayerNorm);

}  // namespace lcmd
