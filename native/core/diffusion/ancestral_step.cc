#include "core/diffusion/ancestral_step.h"

#include <algorithm>
#include <cmath>

namespace lcmd {

PosteriorCoefficients posterior_coefficients(const at::Tensor& alpha_s, const at::Tensor& sigma_s, const at::Tensor& alpha_t,
                                             const at::Tensor& sigma_t) {
  auto alpha_ts = alpha_t / alpha_s;
  auto sigma_s2 = sigma_s * sigma_s;
  auto sigma_t2 = sigma_t * sigma_t;
  // sigma_{t|s}^2 = sigma_t^2 - alpha_{t|s}^2 sigma_s^2, clamped: rounding can make it slightly negative when s ~ t
  auto sigma_ts2 = (sigma_t2 - alpha_ts * alpha_ts * sigma_s2).clamp_min(0.0);
  return {alpha_ts * sigma_s2 / sigma_t2, alpha_s * sigma_ts2 / sigma_t2, sigma_ts2 * sigma_s2 / sigma_t2};
}

at::Tensor ancestral_update(const at::Tensor& z_t, const at::Tensor& e_hat, const at::Tensor& noise, const StepTimes& times) {
  // the coefficients of posterior_coefficients, in host doubles: nothing here reads a tensor back
  const double alpha_ts = times.alpha_t / times.alpha_s;
  const double sigma_s2 = times.sigma_s * times.sigma_s, sigma_t2 = times.sigma_t * times.sigma_t;
  const double sigma_ts2 = std::max(0.0, sigma_t2 - alpha_ts * alpha_ts * sigma_s2);
  const double coef_z = alpha_ts * sigma_s2 / sigma_t2;
  const double coef_x = times.alpha_s * sigma_ts2 / sigma_t2;
  const double std_q = std::sqrt(sigma_ts2 * sigma_s2 / sigma_t2);
  return z_t * static_cast<float>(coef_z) + e_hat * static_cast<float>(coef_x) + noise * static_cast<float>(std_q);
}

at::Tensor forward_update(const at::Tensor& z_s, const at::Tensor& noise, const StepTimes& times) {
  const double alpha_ts = times.alpha_t / times.alpha_s;
  const double var_ts = std::max(0.0, times.sigma_t * times.sigma_t - alpha_ts * alpha_ts * times.sigma_s * times.sigma_s);
  return z_s * static_cast<float>(alpha_ts) + noise * static_cast<float>(std::sqrt(var_ts));
}

}  // namespace lcmd
