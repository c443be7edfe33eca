// e_hat = p E for p [B, N, K] and E [K, d] -> [B, N, d]: what a sampler step moves towards.
#pragma once
#include <torch/torch.h>

namespace lcmd {

// One matrix product per sample (a batched product over an expanded E), so a sample's result does not depend on the
// other rows of its batch (one [B*N, K] product would).
at::Tensor predicted_embedding(const at::Tensor& probs, const at::Tensor& table);

}  // namespace lcmd
