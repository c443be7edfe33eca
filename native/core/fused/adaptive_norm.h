// AdaLN with its residual add, fused: x = h + r, y = LayerNorm(x) (1 + scale) + shift, in one pass over memory forward
// and one backward, with the row statistics in float32. On float32 CPU tensors and on CUDA tensors (float32, bf16,
// fp16); anything else (float64 for gradient checks, bf16 on CPU) runs the same function as plain libtorch ops.
// h, r: [B, N, C]; scale, shift: [B, C] (one modulation per example, broadcast over its N positions).
#pragma once
#include <torch/torch.h>

#include <utility>

namespace lcmd::fused {

// y, with autograd
at::Tensor adaptive_norm(const at::Tensor& h, const at::Tensor& scale, const at::Tensor& shift, double eps);
// {x, y}, with autograd; x is what h + r gives (the residual stream), y its AdaLN
std::pair<at::Tensor, at::Tensor> residual_adaptive_norm(const at::Tensor& h, const at::Tensor& r, const at::Tensor& scale,
                                                         const at::Tensor& shift, double eps);

// Whether the functions above take the fused path for h.
bool adaptive_norm_is_fused(const at::Tensor& h);

// The two passes on their own (no autograd), on the fused path's types. r and grad_x may be undefined (no residual;
// x's gradient is only y's).
struct AdaptiveNormForward {
  at::Tensor x;     // h + r, or h
  at::Tensor y;
  at::Tensor mean;  // [B * N] float32
  at::Tensor rstd;  // [B * N] float32
};
struct AdaptiveNormGrads {
  at::Tensor input;  // the gradient at x (and so at h and at r)
  at::Tensor scale;
  at::Tensor shift;
};
AdaptiveNormForward adaptive_norm_forward(const at::Tensor& h, const at::Tensor& r, const at::Tensor& scale, const at::Tensor& shift,
                                          double eps);
AdaptiveNormGrads adaptive_norm_backward(const at::Tensor& grad_y, const at::Tensor& grad_x, const AdaptiveNormForward& saved,
                                         const at::Tensor& scale);

#ifdef LCMD_WITH_CUDA
AdaptiveNormForward adaptive_norm_forward_cuda(const at::Tensor& h, const at::Tensor& r, const at::Tensor& scale,
                                               const at::Tensor& shift, double eps);
AdaptiveNormGrads adaptive_norm_backward_cuda(const at::Tensor& grad_y, const at::Tensor& grad_x, const AdaptiveNormForward& saved,
                                              const at::Tensor& scale);
#endif

}  // namespace lcmd::fused
