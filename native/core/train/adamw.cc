#include "core/train/adamw.h"

#include <cmath>

#include "core/base/error.h"
#include "core/fused/adamw_ema.h"
#include "core/train/ema.h"

namespace lcmd {

AdamW::AdamW(std::vector<at::Tensor> params, std::vector<bool> decay, AdamWOptions options)
    : params_(std::move(params)), decay_(std::move(decay)), options_(options) {
  LCMD_CHECK(params_.size() == decay_.size(), "E_NATIVE", "AdamW: one weight-decay flag per parameter is required");
  for (const auto& p : params_) {
    exp_avg_.push_back(torch::zeros_like(p, at::MemoryFormat::Preserve));
    exp_avg_sq_.push_back(torch::zeros_like(p, at::MemoryFormat::Preserve));
  }
}

void AdamW::step(double lr, double grad_scale, const std::vector<EmaTarget>& emas) {
  LCMD_CHECK(emas.size() <= 2, "E_NATIVE", "AdamW: at most two EMAs (the sampling EMA and the teacher)");
  for (const auto& e : emas)
    LCMD_CHECK(e.weights.size() == params_.size(), "E_NATIVE", "AdamW: an EMA needs one weight per parameter");
  torch::NoGradGuard no_grad;
  ++steps_;
  last_step_fused_ = options_.allow_fused && fused_step(lr, grad_scale, emas);
  if (!last_step_fused_) unfused_step(lr, grad_scale, emas);
}

bool AdamW::fused_step(double lr, double grad_scale, const std::vector<EmaTarget>& emas) {
  if (emas.empty()) return false;
  std::vector<fused::OptimizerSlot> slots;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].grad().defined()) continue;
    slots.push_back({params_[i], params_[i].grad(), exp_avg_[i], exp_avg_sq_[i], emas[0].weights[i],
                     emas.size() > 1 ? emas[1].weights[i] : at::Tensor(), decay_[i] && options_.weight_decay > 0});
  }
  if (!fused::adamw_ema_is_fused(slots)) return false;
  const double bias1 = 1.0 - std::pow(options_.beta1, double(steps_));
  const double bias2 = 1.0 - std::pow(options_.beta2, double(steps_));
  fused::AdamWEmaScalars s{};
  s.grad_scale = static_cast<float>(grad_scale);
  s.beta1 = static_cast<float>(options_.beta1);
  s.beta2 = static_cast<float>(options_.beta2);
  s.step_size = static_cast<float>(lr / bias1);
  s.inv_sqrt_bias2 = static_cast<float>(1.0 / std::sqrt(bias2));
  s.eps = static_cast<float>(options_.eps);
  s.decay_factor = static_cast<float>(1.0 - lr * options_.weight_decay);
  s.ema_decay = static_cast<float>(emas[0].decay);
  s.teacher_decay = static_cast<float>(emas.size() > 1 ? emas[1].decay : 0.0);
  fused::adamw_ema_step(slots, s);
  return true;
}

void AdamW::unfused_step(double lr, double grad_scale, const std::vector<EmaTarget>& emas) {
  std::vector<at::Tensor> params, grads, m, v, decayed;
  std::vector<size_t> index;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& g = params_[i].grad();
    if (!g.defined()) continue;
    index.push_back(i);
    params.push_back(params_[i]);
    grads.push_back(grad_scale == 1.0 ? g : g * grad_scale);
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
  for (const auto& e : emas) {
    std::vector<at::Tensor> weights;
    for (size_t i : index) weights.push_back(e.weights[i]);
    ema_update(weights, params, e.decay);
  }
}

}  // namespace lcmd
