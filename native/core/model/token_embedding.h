// The learnable token embedding table E [K, d] and the [mask] vector e_M (docs/method.md section 2).
#pragma once
#include <torch/torch.h>

namespace lcmd {

class TokenEmbeddingImpl : public torch::nn::Module {
 public:
  TokenEmbeddingImpl(int64_t vocab_size, int64_t dim, double init_std, bool l2_normalize);

  // The table as the method sees it (row-normalised to norm sqrt(d) in the L2 ablation).
  at::Tensor table() const;
  // e_x for tokens [B, N] int64 -> [B, N, d]
  at::Tensor lookup(const at::Tensor& tokens) const;
  const at::Tensor& mask_vector() const { return mask_; }

  // CSDM-dagger: copy a tokenizer codebook [K, d] into the table.
  void load_codebook(const at::Tensor& codebook);

 private:
  bool l2_normalize_;
  at::Tensor weight_;
  at::Tensor mask_;
};
TORCH_MODULE(TokenEmbedding);

}  // namespace lcmd
