#include "core/diffusion/ddim_step.h"

namespace lcmd {

at::Tensor ddim_step(const at::Tensor& z_t, const at::Tensor& e_hat, const at::Tensor& alpha_s, const at::Tensor& sigma_s,
                     const at::Tensor& alpha_t, const at::Tensor& sigma_t) {
  auto ratio = (sigma_s / sigma_t).to(z_t.scalar_type());
  auto coef_e = (alpha_s - alpha_t * sigma_s / sigma_t).to(z_t.scalar_type());
  return ratio * z_t + coef_e * e_hat;
}

at::Tensor ddim_step(const at::Tensor& z_t, const at::Tensor& e_hat, const StepTimes& times) {
  auto scalar = [](double v) { return torch::full({}, v, at::kDouble); };
  return ddim_step(z_t, e_hat, scalar(times.alpha_s), scalar(times.sigma_s), scalar(times.alpha_t), scalar(times.sigma_t));
}

}  // namespace lcmd
