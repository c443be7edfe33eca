#include "core/model/token_embedding.h"

#include <cmath>

#include "core/base/error.h"

namespace lcmd {

TokenEmbeddingImpl::TokenEmbeddingImpl(int64_t vocab_size, int64_t dim, double init_std, bool l2_normalize)
    : l2_normalize_(l2_normalize) {
  weight_ = register_parameter("table", torch::randn({vocab_size, dim}) * init_std);
  mask_ = register_parameter("mask", torch::randn({dim}) * init_std);
}

at::Tensor TokenEmbeddingImpl::table() const {
  if (!l2_normalize_) return weight_;
  // Norm sqrt(d) keeps the scale of N(0, I) rows, so the schedule means the same thing in both variants.
  return weight_ / weight_.norm(2, -1, true).clamp_min(1e-12) * std::sqrt(double(weight_.size(1)));
}

at::Tensor TokenEmbeddingImpl::lookup(const at::Tensor& tokens) const { return torch::embedding(table(), tokens); }

void TokenEmbeddingImpl::load_codebook(const at::Tensor& codebook) {
  LCMD_CHECK(codebook.dim() == 2 && codebook.size(0) == weight_.size(0) && codebook.size(1) == weight_.size(1), "E_SHAPE",
             "a codebook for the embedding table must have shape [" + std::to_string(weight_.size(0)) + ", " +
                 std::to_string(weight_.size(1)) + "]");
  torch::NoGradGuard no_grad;
  weight_.copy_(codebook.to(weight_.dtype()));
}

}  // namespace lcmd
