// Multi-head self-attention, softmax(q k^T / sqrt(dh)) v with dropout on the weights, on float32 CPU tensors: one
// pass per sample over all its heads each way, read straight from the packed qkv projection and written in the
// [B, N, hidden] layout the output projection takes. libtorch 1.13 spells it as batched GEMMs of N x N x dh per head
// (tiny products, at a fraction of the BLAS's speed), a softmax, a dropout and the permutes and copies between them,
// and as many again backwards; here a sample's q, k, v and a head's scores stay in L1 and L2.
#pragma once
#include <torch/torch.h>

namespace lcmd::fused {

// With autograd. qkv: [B, N, 3 * hidden] float32, the projection's output, each position [q | k | v] with heads of
// hidden / heads contiguous. Returns [B, N, hidden]: each position's heads concatenated. Dropout (p > 0) draws its
// mask as libtorch's dropout does on the [B, heads, N, N] weights (bernoulli(1 - p) / (1 - p) from the default
// generator), so a seeded run drops the same weights on either path.
at::Tensor attention(const at::Tensor& qkv, int64_t heads, double dropout);

// Whether attention() takes the fused path: a float32 CPU qkv (otherwise compat::attention serves the call).
bool attention_is_fused(const at::Tensor& qkv);

// The passes on their own (no autograd), for tests. keep_scale: [B, heads, N, N], 0 or 1 / (1 - p) per weight, or
// undefined for no dropout. With `probs`, the forward writes the softmax (before dropout) there, [B, heads, N, N],
// which the backward takes.
at::Tensor attention_forward(const at::Tensor& qkv, int64_t heads, const at::Tensor& keep_scale = {}, at::Tensor* probs = nullptr);
at::Tensor attention_backward(const at::Tensor& grad, const at::Tensor& qkv, const at::Tensor& probs, const at::Tensor& keep_scale,
                              int64_t heads);

}  // namespace lcmd::fused
