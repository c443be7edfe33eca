#include "core/train/ema.h"

#include <algorithm>

#include "core/base/error.h"

namespace lcmd {

double ema_decay_at(double decay, int64_t step, bool warmup) {
  if (!warmup) return decay;
  return std::min(decay, (1.0 + double(step)) / (10.0 + double(step)));
}

void ema_update(std::vector<at::Tensor>& ema, const std::vector<at::Tensor>& params, double decay) {
  LCMD_CHECK(ema.size() == params.size(), "E_NATIVE", "EMA and parameter lists differ in length");
  torch::NoGradGuard no_grad;
  if (ema.empty()) return;
  at::_foreach_mul_(ema, decay);
  at::_foreach_add_(ema, params, 1.0 - decay);
}

}  // namespace lcmd
