#include "core/sample/sampler_final.h"

namespace lcmd {

at::Tensor final_tokens(const at::Tensor& probs, FinalRule rule, const at::Tensor& uniforms) {
  if (rule == FinalRule::kArgmax) return probs.argmax(-1);
  // Inverse CDF in float64: the token is the number of cumulative sums below u * total.
  constexpr double kSteps = 16777216.0;  // 2^24, the resolution of one uniform
  auto u = uniforms.to(at::kDouble);
  auto coarse = at::floor(u.select(-1, 0) * kSteps);
  auto fine = (coarse + u.select(-1, 1)) / kSteps;
  auto cdf = probs.to(at::kDouble).cumsum(-1);
  auto threshold = (fine * cdf.select(-1, -1)).unsqueeze(-1);
  return (cdf < threshold).sum(-1).clamp_max(probs.size(-1) - 1);
}

}  // namespace lcmd
