// The sampler's output (docs/method.md section 8): x_i = argmax_k p(x_i = k | z_0; t = 0), or a draw from that p.
#pragma once
#include <torch/torch.h>

namespace lcmd {

enum class FinalRule { kArgmax, kSample };

// probs: [B, N, K]. uniforms: [B, N, 2] in (0, 1), read only for kSample (two 24-bit uniforms make one 48-bit
// uniform, so tokens far below 2^-24 in probability keep their chance). Returns int64 [B, N].
at::Tensor final_tokens(const at::Tensor& probs, FinalRule rule, const at::Tensor& uniforms);

}  // namespace lcmd
