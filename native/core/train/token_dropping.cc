#include "core/train/token_dropping.h"

#include <cmath>

#include "core/base/error.h"

namespace lcmd {

at::Tensor drop_mask(const std::string& strategy, double rate, const at::Tensor& uniforms, const at::Tensor& ratio_uniforms,
                     const at::Tensor& t) {
  if (rate <= 0) return torch::zeros_like(uniforms, at::kBool);
  if (strategy == "bernoulli") return uniforms < rate;
  if (strategy == "count") {
    int64_t n = uniforms.size(1);
    int64_t count = static_cast<int64_t>(std::floor(rate * double(n)));
    auto mask = torch::zeros_like(uniforms, at::kBool);
    if (count == 0) return mask;
    // the `count` positions with the smallest draws: a uniformly random subset of that size
    auto idx = std::get<1>(uniforms.topk(count, 1, /*largest=*/false));
    return mask.scatter(1, idx, true);
  }
  at::Tensor rho;
  if (strategy == "random-ratio") {
    rho = ratio_uniforms.to(uniforms.dtype()) * (2.0 * rate);
  } else if (strategy == "linear-t") {
    rho = t.to(uniforms.dtype()) * (2.0 * rate);
  } else {
    fail("E_CONFIG", "unknown drop strategy '" + strategy + "'");
  }
  return uniforms < rho.clamp_max(0.95).unsqueeze(1);
}

}  // namespace lcmd
