// The DDIM step (docs/method.md, "Sampling"): the deterministic move from z_t to z_s, s < t, given the predicted
// embedding e_hat: z_s = (sigma_s / sigma_t) z_t + (alpha_s - alpha_t sigma_s / sigma_t) e_hat.
// The CM loss's teacher step and the DDIM sampler both use it.
#pragma once
#include <torch/torch.h>

#include "core/diffusion/step_times.h"

namespace lcmd {

// Per-example coefficients, float64 tensors broadcasting against z_t (e.g. [B, 1, 1]).
at::Tensor ddim_step(const at::Tensor& z_t, const at::Tensor& e_hat, const at::Tensor& alpha_s, const at::Tensor& sigma_s,
                     const at::Tensor& alpha_t, const at::Tensor& sigma_t);
// One time pair for the whole batch (the sampler).
at::Tensor ddim_step(const at::Tensor& z_t, const at::Tensor& e_hat, const StepTimes& times);

}  // namespace lcmd
