#include "core/eval/vlb_importance.h"

#include <cmath>

namespace lcmd {

LogsnrSamples sample_logsnr_importance(const NoiseSchedule& schedule, const at::Tensor& u_choice, const at::Tensor& u_value) {
  double lo = schedule.logsnr(1.0), hi = schedule.logsnr(0.0);
  auto uc = u_choice.to(at::kDouble), uv = u_value.to(at::kDouble);
  // exponential component by inverse CDF, in a form that stays finite: lambda = hi + log(u + (1 - u) e^(lo - hi))
  auto exp_part = hi + torch::log(uv + (1.0 - uv) * std::exp(lo - hi));
  auto uni_part = lo + uv * (hi - lo);
  auto lambda = torch::where(uc < 0.5, uni_part, exp_part).clamp(lo, hi);
  // pi(lambda) = 1/2 * 1/(hi - lo) + 1/2 * e^lambda / (e^hi - e^lo); weight = 1/2 e^lambda / pi
  double z = std::exp(hi) - std::exp(lo);
  auto pi = 0.5 / (hi - lo) + 0.5 * torch::exp(lambda) / z;
  auto weight = 0.5 * torch::exp(lambda) / pi;
  return {schedule.t_from_logsnr(lambda), weight};
}

}  // namespace lcmd
