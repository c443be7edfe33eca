// Multi-head self-attention, softmax(q k^T / sqrt(dh)) v, in one pass per (sample, head) on float32 CPU tensors,
// read straight from the packed qkv projection and written in the [B, N, hidden] layout the output projection takes.
// libtorch 1.13 spells it as two batched GEMMs of N x N x dh per head (tiny products, at a fraction of the BLAS's
// speed), a softmax, and the permutes and copies between them; here a head's keys and scores stay in L1.
// Without autograd: it serves every forward that needs no gradient (sampling, the teacher, evaluation).
#pragma once
#include <torch/torch.h>

namespace lcmd::fused {

// qkv: [B, N, 3 * hidden] float32, the projection's output, each position [q | k | v] with heads of hidden / heads
// contiguous. Returns [B, N, hidden]: each position's heads concatenated.
at::Tensor attention_forward(const at::Tensor& qkv, int64_t heads);

// Whether attention_forward serves this call: a float32 CPU qkv, no attention dropout, and no gradient wanted.
bool attention_is_fused(const at::Tensor& qkv, double dropout);

}  // namespace lcmd::fused
