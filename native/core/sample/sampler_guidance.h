// Classifier-free guidance per token (docs/method.md section 8): logits = (1 + w) logits(z, c) - w logits(z, null).
#pragma once
#include <torch/torch.h>

#include "core/sample/denoiser.h"

namespace lcmd {

struct GuidedLogits {
  at::Tensor logits;    // [B, N, K] float32
  int64_t forward_rows; // rows that went through the network: B, or 2B with guidance
};

// z: [B, N, d]; t: [B] float32; classes: [B] int64 in [0, C) or undefined for an unconditional model.
// With w > 0 the conditional and the null-class halves run as ONE batched forward of 2B rows. With w = 0 the null
// half is skipped, so the result is bit-identical to the unguided prediction.
// self_cond: the previous prediction [B, N, d] for self-conditioning models (both halves see it), or undefined.
GuidedLogits guided_logits(Denoiser& denoiser, const at::Tensor& z, const at::Tensor& t, const at::Tensor& classes, double w,
                           const at::Tensor& self_cond = {});

}  // namespace lcmd
