#include "core/sampler_step.h"

#include <algorithm>
#include <cmath>

namespace lcmd {

namespace {

at::Tensor scalar(double value) { return torch::full({}, value, at::kDouble); }

}  // namespace

StepTimes step_times(const NoiseSchedule& schedule, double s, double t) {
  return {schedule.alpha(s), schedule.sigma(s), schedule.alpha(t), schedule.sigma(t)};
}

at::Tensor ancestral_update(const at::Tensor& z_t, const at::Tensor& e_hat, const at::Tensor& noise, const StepTimes& times) {
  auto coefficients = posterior_coefficients(scalar(times.alpha_s), scalar(times.sigma_s), scalar(times.alpha_t), scalar(times.sigma_t));
  const double coef_z = coefficients.coef_z.item<double>();
  const double coef_x = coefficients.coef_x.item<double>();
  const double std_q = std::sqrt(coefficients.var.item<double>());
  return z_t * static_cast<float>(coef_z) + e_hat * static_cast<float>(coef_x) + noise * static_cast<float>(std_q);
}

at::Tensor ddim_update(const at::Tensor& z_t, const at::Tensor& e_hat, const StepTimes& times) {
  return ddim_step(z_t, e_hat, scalar(times.alpha_s), scalar(times.sigma_s), scalar(times.alpha_t), scalar(times.sigma_t));
}

at::Tensor forward_update(const at::Tensor& z_s, const at::Tensor& noise, const StepTimes& times) {
  const double alpha_ts = times.alpha_t / times.alpha_s;
  const double var_ts = std::max(0.0, times.sigma_t * times.sigma_t - alpha_ts * alpha_ts * times.sigma_s * times.sigma_s);
  return z_s * static_cast<float>(alpha_ts) + noise * static_cast<float>(std::sqrt(var_ts));
}

at::Tensor predicted_embedding(const at::Tensor& probs, const at::Tensor& table) {
  const auto batch = probs.size(0);
  auto weights = table.to(probs.scalar_type()).unsqueeze(0).expand({batch, table.size(0), table.size(1)});
  return at::bmm(probs, weights);
}

}  // namespace lcmd
