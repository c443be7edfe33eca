// Exact (erf) GELU in one pass over memory each way, on float32 CPU tensors and on CUDA tensors (float32, bf16,
// fp16). Anything else (float64 for gradient checks, bf16 on CPU) uses torch::gelu, which computes the same function.
#pragma once
#include <torch/torch.h>

namespace lcmd::fused {

// GELU with autograd: the backward pass is gelu_backward.
at::Tensor gelu(const at::Tensor& x);

// The two passes on their own (no autograd), for tests and benchmarks.
at::Tensor gelu_forward(const at::Tensor& x);
at::Tensor gelu_backward(const at::Tensor& grad, const at::Tensor& x);

// Whether gelu_forward / gelu_backward take the fused path for x (otherwise they call libtorch).
bool gelu_is_fused(const at::Tensor& x);

#ifdef LCMD_WITH_CUDA
at::Tensor gelu_forward_cuda(const at::Tensor& x);
at::Tensor gelu_backward_cuda(const at::Tensor& grad, const at::Tensor& x);
#endif

}  // namespace lcmd::fused
