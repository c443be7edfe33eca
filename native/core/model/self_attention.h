// Bidirectional multi-head self-attention with attention dropout (no causal mask).
#pragma once
#include <torch/torch.h>

namespace lcmd {

class SelfAttentionImpl : public torch::nn::Module {
 public:
  SelfAttentionImpl(int64_t hidden, int64_t heads, double dropout);
  at::Tensor forward(const at::Tensor& x);  // [B, N, hidden] -> [B, N, hidden]

 private:
  int64_t heads_;
  double dropout_;
  torch::nn::Linear qkv_{nullptr};
  torch::nn::Linear out_{nullptr};
};
TORCH_MODULE(SelfAttention);

}  // namespace lcmd
