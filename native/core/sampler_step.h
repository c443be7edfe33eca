// The two rules that move a sampler from time t to an earlier time s < t, given e_hat = p E (SPEC section 8).
// Coefficients come from the schedule in float64 and are applied to float32 tensors.
#pragma once
#include <torch/torch.h>

#include "core/schedule.h"

namespace lcmd {

struct StepTimes {
  double alpha_s, sigma_s, alpha_t, sigma_t;
};

StepTimes step_times(const NoiseSchedule& schedule, double s, double t);

// Ancestral: a draw from q(z_s | z_t, x = e_hat) = N(mu_Q(z_t, e_hat), sigma_Q^2 I), i.e. mu_Q + sigma_Q * noise,
// with noise ~ N(0, I) of z_t's shape.
at::Tensor ancestral_update(const at::Tensor& z_t, const at::Tensor& e_hat, const at::Tensor& noise, const StepTimes& times);

// DDIM (deterministic): z_s = (sigma_s / sigma_t) z_t + (alpha_s - alpha_t sigma_s / sigma_t) e_hat.
at::Tensor ddim_update(const at::Tensor& z_t, const at::Tensor& e_hat, const StepTimes& times);

// The forward process from s back to t: z_t = alpha_{t|s} z_s + sigma_{t|s} noise, a draw from q(z_t | z_s). Infill
// resampling uses it to revisit a step (RePaint's jump of one step).
at::Tensor forward_update(const at::Tensor& z_s, const at::Tensor& noise, const StepTimes& times);

// e_hat = p E for p [B, N, K] and E [K, d] -> [B, N, d]. One matrix product per sample (a batched product over an
// expanded E), so a sample's result does not depend on the other rows of its batch (one [B*N, K] product would).
at::Tensor predicted_embedding(const at::Tensor& probs, const at::Tensor& table);

}  // namespace lcmd
