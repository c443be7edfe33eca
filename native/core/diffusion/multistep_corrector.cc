#include "core/diffusion/multistep_corrector.h"

#include <cmath>
#include <string>

#include "core/base/error.h"

namespace lcmd {

CorrectorWeights corrector_weights(int order, double lambda_prev, double lambda_t, double lambda_s) {
  LCMD_CHECK((order == 1 || order == 2) && std::isfinite(lambda_t) && std::isfinite(lambda_s) && lambda_t < lambda_s, "E_RANGE",
             "the corrector needs order 1 or 2 and finite log-SNRs lambda_t < lambda_s, got order " + std::to_string(order) + ", " +
                 std::to_string(lambda_t) + ", " + std::to_string(lambda_s));
  if (order == 1) return {0.0, 0.5, 0.5};
  LCMD_CHECK(std::isfinite(lambda_prev) && lambda_prev < lambda_t, "E_RANGE", "the order-2 corrector needs lambda_prev < lambda_t");
  // UniPC in L = lambda / 2 = log(alpha / sigma), h = L_s - L_t: the corrector solves R rho = b for rho, with
  // R = [[1, 1], [r, 1]], r = (L_prev - L_t) / h, b_k = k! phi_k(h) / B(h), phi_1 = (e^-h - 1) / (-h) - 1,
  // phi_2 = phi_1 / (-h) - 1 / 2, B(h) = e^-h - 1; then M = m_t + rho_1 (m_s - m_t) + rho_0 (m_prev - m_t) / r.
  const double h = (lambda_s - lambda_t) / 2.0, r = (lambda_prev - lambda_t) / 2.0 / h;
  const double b_h = std::expm1(-h);
  const double phi_1 = b_h / -h - 1.0, phi_2 = phi_1 / -h - 0.5;
  const double b_1 = phi_1 / b_h, b_2 = 2.0 * phi_2 / b_h;
  const double rho_0 = (b_1 - b_2) / (1.0 - r), rho_1 = b_1 - rho_0;
  const double previous = rho_0 / r;
  return {previous, 1.0 - rho_1 - previous, rho_1};
}

at::Tensor corrector_prediction(const CorrectorWeights& w, const at::Tensor& m_prev, const at::Tensor& m_t, const at::Tensor& m_s) {
  auto combined = m_t * static_cast<float>(w.current) + m_s * static_cast<float>(w.next);
  return m_prev.defined() ? combined + m_prev * static_cast<float>(w.previous) : combined;
}

}  // namespace lcmd
