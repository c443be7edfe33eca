#include "core/diffusion/multistep_prediction.h"

#include <cmath>
#include <string>

#include "core/base/error.h"

namespace lcmd {

double multistep_weight(double lambda_prev, double lambda_t, double lambda_s) {
  LCMD_CHECK(std::isfinite(lambda_prev) && lambda_prev < lambda_t && lambda_t < lambda_s && std::isfinite(lambda_s), "E_RANGE",
             "multistep step needs finite log-SNRs lambda_prev < lambda_t < lambda_s, got " + std::to_string(lambda_prev) + ", " +
                 std::to_string(lambda_t) + ", " + std::to_string(lambda_s));
  const double r = (lambda_t - lambda_prev) / (lambda_s - lambda_t);
  return 0.5 / r;
}

at::Tensor multistep_prediction(const at::Tensor& e_hat, const at::Tensor& e_hat_prev, double weight) {
  return e_hat * static_cast<float>(1.0 + weight) - e_hat_prev * static_cast<float>(weight);
}

}  // namespace lcmd
