#include "core/diffusion/ancestral_step.h"

#include <algorithm>
#include <cmath>

#include "core/fused/noisy_update.h"

namespace lcmd {

PosteriorCoefficients posterior_coefficients(const StepTimes& times) {
  const double alpha_ts = times.alpha_t / times.alpha_s;
  const double sigma_s2 = times.sigma_s * times.sigma_s, sigma_t2 = times.sigma_t * times.sigma_t;
  // sigma_{t|s}^2 = sigma_t^2 - alpha_{t|s}^2 sigma_s^2, clamped: rounding can make it slightly negative when s ~ t
  const double sigma_ts2 = std::max(0.0, sigma_t2 - alpha_ts * alpha_ts * sigma_s2);
  return {alpha_ts * sigma_s2 / sigma_t2, times.alpha_s * sigma_ts2 / sigma_t2, sigma_ts2 * sigma_s2 / sigma_t2};
}

at::Tensor ancestral_update(const at::Tensor& z_t, const at::Tensor& e_hat, const at::Tensor& noise, const StepTimes& times) {
  // host doubles: nothing here reads a tensor back
  const auto c = posterior_coefficients(times);
  return z_t * static_cast<float>(c.coef_z) + e_hat * static_cast<float>(c.coef_x) + noise * static_cast<float>(std::sqrt(c.var));
}

namespace {

// q(z_t | z_s): z_t = alpha_{t|s} z_s + sqrt(var) noise
struct JumpCoefficients {
  double alpha_ts;
  double var;
};
JumpCoefficients jump_coefficients(const StepTimes& times) {
  const double alpha_ts = times.alpha_t / times.alpha_s;
  return {alpha_ts, std::max(0.0, times.sigma_t * times.sigma_t - alpha_ts * alpha_ts * times.sigma_s * times.sigma_s)};
}

}  // namespace

at::Tensor forward_update(const at::Tensor& z_s, const at::Tensor& noise, const StepTimes& times) {
  const auto j = jump_coefficients(times);
  return z_s * static_cast<float>(j.alpha_ts) + noise * static_cast<float>(std::sqrt(j.var));
}

at::Tensor ancestral_update(const at::Tensor& z_t, const at::Tensor& e_hat, const ExampleStreams& noise, const StepTimes& times) {
  const auto c = posterior_coefficients(times);
  return fused::noisy_update(z_t, e_hat, {static_cast<float>(c.coef_z), static_cast<float>(c.coef_x), static_cast<float>(std::sqrt(c.var))}, noise);
}

at::Tensor forward_update(const at::Tensor& z_s, const ExampleStreams& noise, const StepTimes& times) {
  const auto j = jump_coefficients(times);
  return fused::noisy_update(z_s, at::Tensor(), {static_cast<float>(j.alpha_ts), 0.0f, static_cast<float>(std::sqrt(j.var))}, noise);
}

}  // namespace lcmd
