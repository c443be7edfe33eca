// The block's MLP, fc2(GELU(fc1(x))), and the residual add after it.
#pragma once
#include <torch/torch.h>

namespace lcmd {

// x + fc2(GELU(fc1(normed))) for x, normed [B, N, hidden]. A forward that needs no gradient on float32 CPU tensors
// runs it in blocks of kMlpBlockRows rows: each block's [rows, 4 hidden] activation is written, passed through GELU and
// read by fc2 while it is in L2, instead of streaming the whole activation (12.8 MB for 6272 rows at width 128)
// through memory three times.
at::Tensor mlp_residual(const torch::nn::Linear& fc1, const torch::nn::Linear& fc2, const at::Tensor& x, const at::Tensor& normed);

// Whether mlp_residual takes the row blocks for this input.
bool mlp_in_row_blocks(const at::Tensor& normed);

constexpr int64_t kMlpBlockRows = 512;

}  // namespace lcmd
