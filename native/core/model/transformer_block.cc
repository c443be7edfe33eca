#include "core/model/transformer_block.h"

#include "core/model/mlp.h"

namespace lcmd {

TransformerBlockImpl::TransformerBlockImpl(int64_t hidden, int64_t heads, int64_t mlp_ratio, int64_t cond_dim,
                                           double attn_dropout) {
  norm1_ = register_module("norm1", AdaptiveLayerNorm(hidden, cond_dim));
  attn_ = register_module("attn", SelfAttention(hidden, heads, attn_dropout));
  norm2_ = register_module("norm2", AdaptiveLayerNorm(hidden, cond_dim));
  fc1_ = register_module("fc1", torch::nn::Linear(hidden, mlp_ratio * hidden));
  fc2_ = register_module("fc2", torch::nn::Linear(mlp_ratio * hidden, hidden));
}

at::Tensor TransformerBlockImpl::forward(const at::Tensor& h, const at::Tensor& y_act) {
  auto [x, normed] = norm2_->forward_residual(h, attn_(norm1_(h, y_act)), y_act);
  return mlp_residual(fc1_, fc2_, x, normed);
}

}  // namespace lcmd
