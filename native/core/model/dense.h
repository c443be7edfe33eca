// A Linear layer applied to [..., in] as one GEMM with the bias as its accumulator.
#pragma once
#include <torch/torch.h>

namespace lcmd {

// x W^T + b. The C++ frontend's Linear::forward takes a [B, N, in] input through matmul and then adds the bias: the
// BLAS first zeroes the output (beta = 0), and the add is one more pass over it. at::linear (what PyTorch's
// F.linear calls) folds the rows and starts the GEMM from the bias (addmm, beta = 1).
inline at::Tensor dense(const torch::nn::Linear& layer, const at::Tensor& x) { return at::linear(x, layer->weight, layer->bias); }

}  // namespace lcmd
