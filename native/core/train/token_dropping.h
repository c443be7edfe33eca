// Random token dropping (docs/method.md section 6.1): which positions get the [mask] vector in place of their embedding.
#pragma once
#include <torch/torch.h>

#include <string>

namespace lcmd {

// uniforms: [B, N] in (0, 1), per-position draws; ratio_uniforms: [B] in (0, 1); t: [B].
//   bernoulli:    each position independently with probability r
//   count:        exactly floor(r N) positions per example
//   random-ratio: each example draws its own ratio rho ~ U(0, 2r) (mean r, capped below 1), then Bernoulli(rho)
//   linear-t:     rho = 2 r t (mean r over t ~ U(0, 1), capped below 1), then Bernoulli(rho)
at::Tensor drop_mask(const std::string& strategy, double rate, const at::Tensor& uniforms, const at::Tensor& ratio_uniforms,
                     const at::Tensor& t);

}  // namespace lcmd
