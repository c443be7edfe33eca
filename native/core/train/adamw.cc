#include "core/train/adamw.h"

#include <cmath>

#include "core/base/error.h"

namespace lcmd {

AdamW::AdamW(std::vector<at::Tensor> params, std::vector<bool> decay, AdamWOptions options)
    : params_(std::move(params)), decay_(std::move(decay)), options_(options) {
  LCMD_CHECK(params_.size() == decay_.size(), "E_NATIVE", "AdamW: one weight-decay flag per parameter is required");
  for (const auto& p : params_) {
    exp_avg_.push_back(torch::zeros_like(p, at::MemoryFormat::Preserve));
    exp_avg_sq_.push_back(torch::zeros_like(p, at::MemoryFormat::Preserve));
  }
}

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  ++steps_;
  std::vector<at::Tensor> params, grads, m, v, decayed;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& g = params_[i].grad();
    if (!g.defined()) continue;
    params.push_back(params_[i]);
    grads.push_back(g);
    m.push_back(exp_avg_[i]);
    v.push_back(exp_avg_sq_[i]);
    if (decay_[i]) decayed.push_back(params_[i]);
  }
  if (params.empty()) return;
  const double b1 = options_.beta1, b2 = options_.beta2;
  if (!decayed.empty() && options_.weight_decay > 0) at::_foreach_mul_(decayed, 1.0 - lr * options_.weight_decay);
  // m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
  at::_foreach_mul_(m, b1);
  at::_foreach_add_(m, grads, 1.0 - b1);
  at::_foreach_mul_(v, b2);
  at::_foreach_addcmul_(v, grads, grads, 1.0 - b2);
  // p -= lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)
  const double bias1 = 1.0 - std::pow(b1, double(steps_));
  const double bias2 = 1.0 - std::pow(b2, double(steps_));
  auto denom = at::_foreach_sqrt(v);
  at::_foreach_div_(denom, std::sqrt(bias2));
  at::_foreach_add_(denom, options_.eps);
  at::_foreach_addcdiv_(params, m, denom, -lr / bias1);
}

}  // namespace lcmd
