// One pre-norm Transformer block: AdaLN -> self-attention -> residual, AdaLN -> MLP (GELU, 4x) -> residual.
#pragma once
#include <torch/torch.h>

#include "core/model/adaptive_layer_norm.h"
#include "core/model/self_attention.h"

namespace lcmd {

class TransformerBlockImpl : public torch::nn::Module {
 public:
  TransformerBlockImpl(int64_t hidden, int64_t heads, int64_t mlp_ratio, int64_t cond_dim, double attn_dropout);
  at::Tensor forward(const at::Tensor& h, const at::Tensor& y_act);

 private:
  AdaptiveLayerNorm norm1_{nullptr};
  SelfAttention attn_{nullptr};
  AdaptiveLayerNorm norm2_{nullptr};
  torch::nn::Linear fc1_{nullptr};
  torch::nn::Linear fc2_{nullptr};
};
TORCH_MODULE(TransformerBlock);

}  // namespace lcmd
