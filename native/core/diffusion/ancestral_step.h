// The ancestral step (docs/method.md, "Forward process" and "Sampling"): a draw from the posterior
// q(z_s | z_t, x = e_hat) = N(mu_Q, sigma_Q^2 I), and the forward jump back from s to t that infill resampling uses.
#pragma once
#include <torch/torch.h>

#include "core/diffusion/step_times.h"
#include "core/noise/counter_noise.h"

namespace lcmd {

// q(z_s | z_t, x) for s <= t, in host doubles: mu_Q = coef_z * z_t + coef_x * e_x, variance var.
struct PosteriorCoefficients {
  double coef_z;
  double coef_x;
  double var;
};
PosteriorCoefficients posterior_coefficients(const StepTimes& times);

// mu_Q(z_t, e_hat) + sigma_Q * noise, with noise ~ N(0, I) of z_t's shape.
at::Tensor ancestral_update(const at::Tensor& z_t, const at::Tensor& e_hat, const at::Tensor& noise, const StepTimes& times);

// z_t = alpha_{t|s} z_s + sigma_{t|s} noise, a draw from q(z_t | z_s) (RePaint's jump of one step).
at::Tensor forward_update(const at::Tensor& z_s, const at::Tensor& noise, const StepTimes& times);

// The same two draws with the noise of `noise` (one stream per row of z, as counter_normal makes it) generated inside
// the update, in one pass (core/fused/noisy_update.h): what the sampler runs.
at::Tensor ancestral_update(const at::Tensor& z_t, const at::Tensor& e_hat, const ExampleStreams& noise, const StepTimes& times);
at::Tensor forward_update(const at::Tensor& z_s, const ExampleStreams& noise, const StepTimes& times);

}  // namespace lcmd
