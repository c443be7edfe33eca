#include "core/model/adaptive_layer_norm.h"

namespace lcmd {

AdaptiveLayerNormImpl::AdaptiveLayerNormImpl(int64_t hidden, int64_t cond_dim) {
  norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({hidden}).elementwise_affine(false).eps(1e-6)));
  modulation_ = register_module("modulation", torch::nn::Linear(cond_dim, 2 * hidden));
  torch::NoGradGuard no_grad;
  modulation_->weight.zero_();
  modulation_->bias.zero_();
}

at::Tensor AdaptiveLayerNormImpl::forward(const at::Tensor& h, const at::Tensor& y_act) {
  auto mod = modulation_(y_act).unsqueeze(1);  // [B, 1, 2 hidden]
  auto parts = mod.chunk(2, -1);
  return norm_(h) * (1 + parts[0]) + parts[1];
}

}  // namespace lcmd
