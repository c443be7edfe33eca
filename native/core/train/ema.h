// Exponential moving averages of parameters (docs/method.md section 6.10): theta_ema <- mu theta_ema + (1 - mu) theta,
// with the warm-up mu_n = min(mu, (1 + n) / (10 + n)).
#pragma once
#include <torch/torch.h>

#include <vector>

namespace lcmd {

double ema_decay_at(double decay, int64_t step, bool warmup);

// In place, multi-tensor: ema[i] = decay * ema[i] + (1 - decay) * params[i].
void ema_update(std::vector<at::Tensor>& ema, const std::vector<at::Tensor>& params, double decay);

}  // namespace lcmd
