// A Linear layer applied to [..., in]: x W^T + b as one GEMM per direction.
#pragma once
#include <torch/torch.h>

namespace lcmd {

// x W^T + b, with autograd. On float32 CPU tensors of at least 1024 rows in a build with oneDNN
// (core/blas/onednn_gemm.h), the forward and the input gradient are oneDNN products; the weight gradient, which oneDNN
// computes more slowly than OpenBLAS, stays a libtorch product. Elsewhere at::linear (what PyTorch's F.linear calls): it also folds
// the rows and starts the GEMM from the bias, where the C++ frontend's Linear::forward zeroes the output first
// (matmul, beta = 0) and adds the bias in one more pass.
at::Tensor dense(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);
inline at::Tensor dense(const torch::nn::Linear& layer, const at::Tensor& x) { return dense(x, layer->weight, layer->bias); }

// Whether dense() takes the oneDNN path for these tensors.
bool dense_uses_onednn(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

}  // namespace lcmd
