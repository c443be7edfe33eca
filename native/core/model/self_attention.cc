#include "core/model/self_attention.h"

#include "core/base/compat.h"
#include "core/fused/attention.h"
#include "core/model/dense.h"

namespace lcmd {

SelfAttentionImpl::SelfAttentionImpl(int64_t hidden, int64_t heads, double dropout) : heads_(heads), dropout_(dropout) {
  qkv_ = register_module("qkv", torch::nn::Linear(hidden, 3 * hidden));
  out_ = register_module("out", torch::nn::Linear(hidden, hidden));
}

at::Tensor SelfAttentionImpl::forward(const at::Tensor& x) {
  auto b = x.size(0), n = x.size(1), h = x.size(2);
  const double dropout = is_training() ? dropout_ : 0.0;
  auto projected = dense(qkv_, x);
  // float32 on the CPU: lcmd's kernel (core/fused/attention.h); elsewhere libtorch's (SDPA from 2.0)
  if (fused::attention_is_fused(projected)) return dense(out_, fused::attention(projected, heads_, dropout));
  // [B, N, 3, heads, dh] -> 3 x [B, heads, N, dh]
  auto qkv = projected.view({b, n, 3, heads_, h / heads_}).permute({2, 0, 3, 1, 4});
  auto y = compat::attention(qkv[0], qkv[1], qkv[2], dropout);
  return dense(out_, y.transpose(1, 2).reshape({b, n, h}));
}

}  // namespace lcmd
