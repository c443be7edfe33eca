// DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic Models",
// Algorithm 2): the DDIM step taken with a data prediction extrapolated linearly in log-SNR from this step's prediction
// and the previous step's (r is a ratio of log-SNR differences: the same for the paper's log(alpha / sigma) as for
// the schedule's lambda = log(alpha^2 / sigma^2) passed here),
//   D = (1 + 1 / (2r)) e_hat - 1 / (2r) e_hat_prev,   r = (lambda_t - lambda_prev) / (lambda_s - lambda_t),
// for the step from t to s < t whose previous step started at t_prev > t. It costs no network evaluation: the
// second-order term comes from the prediction already made. DDIM is its first-order case (weight 0).
#pragma once
#include <torch/torch.h>

namespace lcmd {

// 1 / (2r) for log-SNRs lambda_prev < lambda_t < lambda_s. The caller takes the first-order step (weight 0) on the
// first step and on the last one: to s = 0, h = lambda_s - lambda_t is the schedule's whole clipped tail, r is near 0
// and the extrapolation would explode (DPM-Solver++'s "lower order final" step).
double multistep_weight(double lambda_prev, double lambda_t, double lambda_s);

// D = (1 + weight) e_hat - weight e_hat_prev.
at::Tensor multistep_prediction(const at::Tensor& e_hat, const at::Tensor& e_hat_prev, double weight);

}  // namespace lcmd
