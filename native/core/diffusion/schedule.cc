#include "core/diffusion/schedule.h"

#include <cmath>

#include "core/base/error.h"

namespace lcmd {

namespace {

constexpr double kPi = 3.14159265358979323846;

// u at which the unshifted cosine log-SNR -2 log tan(pi u / 2) equals lambda.
double u_from_unshifted_logsnr(double lambda) { return 2.0 / kPi * std::atan(std::exp(-lambda / 2.0)); }

at::Tensor as_double(const at::Tensor& t) { return t.to(at::kDouble); }

}  // namespace

NoiseSchedule::NoiseSchedule(double shift, double max_logsnr) : shift_(shift) {
  LCMD_CHECK(shift > 0 && std::isfinite(shift), "E_CONFIG", "the schedule shift must be a positive number, got " + std::to_string(shift));
  LCMD_CHECK(max_logsnr > 0 && max_logsnr < 40, "E_CONFIG", "the log-SNR clip must be in (0, 40)");
  t_min_ = u_from_unshifted_logsnr(max_logsnr);
  t_max_ = u_from_unshifted_logsnr(-max_logsnr);
}

at::Tensor NoiseSchedule::logsnr(const at::Tensor& t) const {
  auto u = t_min_ + as_double(t) * (t_max_ - t_min_);
  // -2 log tan(x) with x in (0, pi/2): log(cos) - log(sin) keeps precision at both ends.
  auto x = u * (kPi / 2);
  return 2.0 * (torch::log(torch::cos(x)) - torch::log(torch::sin(x))) + 2.0 * std::log(shift_);
}

at::Tensor NoiseSchedule::dlogsnr_dt(const at::Tensor& t) const {
  auto u = t_min_ + as_double(t) * (t_max_ - t_min_);
  // d/du [-2 log tan(pi u/2)] = -pi / (sin(pi u/2) cos(pi u/2)) = -2 pi / sin(pi u)
  return -2.0 * kPi * (t_max_ - t_min_) / torch::sin(kPi * u);
}

at::Tensor NoiseSchedule::alpha_sq(const at::Tensor& t) const { return torch::sigmoid(logsnr(t)); }
at::Tensor NoiseSchedule::sigma_sq(const at::Tensor& t) const { return torch::sigmoid(-logsnr(t)); }
at::Tensor NoiseSchedule::alpha(const at::Tensor& t) const { return torch::sqrt(alpha_sq(t)); }
at::Tensor NoiseSchedule::sigma(const at::Tensor& t) const { return torch::sqrt(sigma_sq(t)); }

at::Tensor NoiseSchedule::t_from_logsnr(const at::Tensor& lambda) const {
  auto unshifted = as_double(lambda) - 2.0 * std::log(shift_);
  auto u = 2.0 / kPi * torch::atan(torch::exp(-unshifted / 2.0));
  return ((u - t_min_) / (t_max_ - t_min_)).clamp(0.0, 1.0);
}

double NoiseSchedule::logsnr(double t) const {
  double x = (t_min_ + t * (t_max_ - t_min_)) * (kPi / 2);
  return 2.0 * (std::log(std::cos(x)) - std::log(std::sin(x))) + 2.0 * std::log(shift_);
}

double NoiseSchedule::alpha(double t) const { return std::sqrt(1.0 / (1.0 + std::exp(-logsnr(t)))); }
double NoiseSchedule::sigma(double t) const { return std::sqrt(1.0 / (1.0 + std::exp(logsnr(t)))); }

}  // namespace lcmd
