// MaskGIT's confidence-based iterative decoding (Chang et al. 2022, with the settings of Besnier & Chen's PyTorch
// reproduction), for models of method "maskgit".
//
// Start with every token masked. At step i = 0 .. T-1: predict the (guided) p for every position, draw a token
// x_i ~ p at each masked position, and score it by log p(x_i) + tau (1 - i / T) g_i with Gumbel noise g_i. Keep the
// masked positions with the highest scores so that after step i a share cos(pi/2 (i+1)/T) of the tokens is still
// masked (the cosine schedule; at least one token is unmasked per step, all of them at the last step). Guidance grows
// linearly, w_i = w i / (T - 1), as in Besnier & Chen. Known tokens (inpainting) start unmasked and never change.
//
// Network evaluations: exactly T per sample (each one batched forward of B rows, 2B with guidance).
#pragma once
#include <torch/torch.h>

#include <functional>

#include "core/noise/sample_noise.h"
#include "core/sample/denoiser.h"
#include "core/sample/sampler_infill.h"

namespace lcmd {

struct MaskgitBatch {
  at::Tensor tokens;  // [B, N] int64 on the device
  int64_t forward_rows = 0;
};

MaskgitBatch maskgit_sample_batch(Denoiser& denoiser, const SampleNoise& noise, const at::Tensor& classes, const KnownTokens& known,
                                  int64_t count, int64_t steps, double guidance, double temperature,
                                  const std::function<void(int64_t)>& on_step);

}  // namespace lcmd
