// CUDA twin of the fused GELU in native/core/fused/gelu.cc: the same per-element math (native/core/fused/gelu_math.h),
// computed in float32 whatever the storage type (float32, bf16, fp16).
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/torch.h>

#include "core/fused/gelu.h"
#include "core/fused/gelu_math.h"

namespace lcmd::fused {

namespace {

template <typename scalar_t>
__global__ void gelu_forward_kernel(const scalar_t* __restrict__ x, scalar_t* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = static_cast<scalar_t>(gelu_value(static_cast<float>(x[i])));
}

template <typename scalar_t>
__global__ void gelu_backward_kernel(const scalar_t* __restrict__ g, const scalar_t* __restrict__ x, scalar_t* __restrict__ out,
                                     int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = static_cast<scalar_t>(static_cast<float>(g[i]) * gelu_slope(static_cast<float>(x[i])));
}

// Enough blocks to fill the device; the grid-stride loops cover the rest.
unsigned blocks_for(int64_t n, int threads) {
  const int64_t wanted = (n + threads - 1) / threads;
  const int64_t cap = int64_t(at::cuda::getCurrentDeviceProperties()->multiProcessorCount) * 32;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min(wanted, cap)));
}

}  // namespace

at::Tensor gelu_forward_cuda(const at::Tensor& x) {
  c10::cuda::CUDAGuard guard(x.device());
  auto in = x.contiguous();
  auto out = torch::empty_like(in);
  const int64_t n = in.numel();
  if (n == 0) return out;
  constexpr int threads = 256;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, in.scalar_type(), "lcmd_gelu_forward", [&] {
    gelu_forward_kernel<scalar_t><<<blocks_for(n, threads), threads, 0, at::cuda::getCurrentCUDAStream()>>>(
        in.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), n);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor gelu_backward_cuda(const at::Tensor& grad, const at::Tensor& x) {
  c10::cuda::CUDAGuard guard(x.device());
  auto in = x.contiguous(), g = grad.contiguous();
  auto out = torch::empty_like(in);
  const int64_t n = in.numel();
  if (n == 0) return out;
  constexpr int threads = 256;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, in.scalar_type(), "lcmd_gelu_backward", [&] {
    gelu_backward_kernel<scalar_t><<<blocks_for(n, threads), threads, 0, at::cuda::getCurrentCUDAStream()>>>(
        g.data_ptr<scalar_t>(), in.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), n);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace lcmd::fused
