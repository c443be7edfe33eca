// UniPC's corrector UniC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of
// Diffusion Models", the B(h) = e^-h - 1 variant, data prediction). After the step from t to s has produced z_s and the
// network has predicted m_s there (the evaluation the next step needs anyway), z_s is taken again from z_t with m_s
// included: the DDIM move from z_t with the combination
//   M = w_prev m_prev + w_t m_t + w_s m_s      (the weights sum to 1)
// of the predictions at s, t and, for order 2, at the time t' of the step before. Order 1 is the trapezoid rule,
// M = (m_t + m_s) / 2; order 2 tends to Adams-Moulton's (-1, 8, 5) / 12 on equal steps in log-SNR. It raises a
// multistep solver's order by one at no extra network evaluation.
#pragma once
#include <torch/torch.h>

namespace lcmd {

struct CorrectorWeights {
  double previous = 0, current = 0, next = 0;  // w_prev, w_t, w_s
};

// Order 1 from log-SNRs lambda_t < lambda_s (lambda_prev unused); order 2 with lambda_prev < lambda_t as well.
CorrectorWeights corrector_weights(int order, double lambda_prev, double lambda_t, double lambda_s);

// M = w_prev m_prev + w_t m_t + w_s m_s; m_prev may be undefined at order 1 (w_prev = 0).
at::Tensor corrector_prediction(const CorrectorWeights& w, const at::Tensor& m_prev, const at::Tensor& m_t, const at::Tensor& m_s);

}  // namespace lcmd
