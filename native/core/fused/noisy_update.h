// A sampler's update with its noise drawn in the same pass: out = coef_z z + coef_x e_hat + noise_std n, where n is
// the counter-based normal noise of `streams` (core/noise/counter_noise.h: row r of the batch is stream r, its N x d
// elements in order), generated where it is used. Unfused, the step makes the noise tensor, then three scaled copies and
// two adds. The ancestral step and infill's forward jump (core/diffusion/ancestral_step.h) run through it.
#pragma once
#include <torch/torch.h>

#include "core/noise/counter_noise.h"

namespace lcmd::fused {

struct NoisyUpdateCoefficients {
  float coef_z;
  float coef_x;     // ignored when e_hat is undefined
  float noise_std;
};

// z: [count, ...] (count = streams.count); e_hat: z's shape, or undefined for out = coef_z z + noise_std n.
// Float32 on the CPU or on CUDA; other types run the same arithmetic as libtorch ops on counter_normal's tensor.
at::Tensor noisy_update(const at::Tensor& z, const at::Tensor& e_hat, const NoisyUpdateCoefficients& c, const ExampleStreams& streams);

// Whether noisy_update takes the fused path for z.
bool noisy_update_is_fused(const at::Tensor& z);

#ifdef LCMD_WITH_CUDA
at::Tensor noisy_update_cuda(const at::Tensor& z, const at::Tensor& e_hat, const NoisyUpdateCoefficients& c, const ExampleStreams& streams);
#endif

}  // namespace lcmd::fused
