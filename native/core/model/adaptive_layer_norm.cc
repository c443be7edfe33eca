#include "core/model/adaptive_layer_norm.h"

#include "core/fused/adaptive_norm.h"

namespace lcmd {

AdaptiveLayerNormImpl::AdaptiveLayerNormImpl(int64_t hidden, int64_t cond_dim) {
  modulation_ = register_module("modulation", torch::nn::Linear(cond_dim, 2 * hidden));
  torch::NoGradGuard no_grad;
  modulation_->weight.zero_();
  modulation_->bias.zero_();
}

std::pair<at::Tensor, at::Tensor> AdaptiveLayerNormImpl::modulation(const at::Tensor& y_act) {
  auto parts = modulation_(y_act).chunk(2, -1);
  return {parts[0], parts[1]};
}

at::Tensor AdaptiveLayerNormImpl::forward(const at::Tensor& h, const at::Tensor& y_act) {
  auto [scale, shift] = modulation(y_act);
  return fused::adaptive_norm(h, scale, shift, eps_);
}

std::pair<at::Tensor, at::Tensor> AdaptiveLayerNormImpl::forward_residual(const at::Tensor& h, const at::Tensor& r, const at::Tensor& y_act) {
  auto [scale, shift] = modulation(y_act);
  return fused::residual_adaptive_norm(h, r, scale, shift, eps_);
}

}  // namespace lcmd
