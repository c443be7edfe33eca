// Importance sampling of the noise level for the diffusion term of the VLB (docs/method.md section 6.12).
// L_diff^VLB = -1/2 E_{t~U}[lambda'(t) e^lambda ||e_x - e_hat||^2] = 1/2 integral over lambda of e^lambda f(lambda).
// Its weight spans e^-20 .. e^10, so uniform t wastes almost every sample. The proposal is an even mixture of
// uniform-in-lambda and density proportional to e^lambda on [lambda_min, lambda_max].
#pragma once
#include <torch/torch.h>

#include "core/diffusion/schedule.h"

namespace lcmd {

struct LogsnrSamples {
  at::Tensor t;       // [B] float64 times whose log-SNR are the samples
  at::Tensor weight;  // [B] float64: 1/2 e^lambda / pi(lambda), so that E[weight * f] = L_diff^VLB per unit f
};

// u_choice, u_value: [B] uniforms in (0, 1)
LogsnrSamples sample_logsnr_importance(const NoiseSchedule& schedule, const at::Tensor& u_choice, const at::Tensor& u_value);

}  // namespace lcmd
