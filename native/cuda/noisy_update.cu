// CUDA twin of the fused sampler update in native/core/fused/noisy_update.cc: the same per-element math
// (native/core/fused/noisy_update_math.h), with each element's normal made in the kernel from the shared counter math
// (native/core/noise/counter_noise_math.h), so the noise is the CPU's bits and its keys never leave the device.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/torch.h>

#include <algorithm>

#include "core/fused/noisy_update.h"
#include "core/fused/noisy_update_math.h"
#include "core/noise/counter_noise_math.h"

namespace lcmd::fused {

namespace {

__global__ void noisy_update_kernel(const float* __restrict__ z, const float* __restrict__ e, float* __restrict__ out, ExampleStreams streams,
                                    int64_t m, NoisyUpdateCoefficients c) {
  const int64_t total = streams.count * m;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const uint64_t key = stream_key(streams.seed, streams.a, static_cast<uint64_t>(streams.first + i / m), streams.purpose);
    const float noise = counter_normal(key, static_cast<uint64_t>(i % m));
    out[i] = e != nullptr ? noisy_update_element(z[i], e[i], noise, c) : noisy_jump_element(z[i], noise, c);
  }
}

}  // namespace

at::Tensor noisy_update_cuda(const at::Tensor& z_in, const at::Tensor& e_in, const NoisyUpdateCoefficients& c, const ExampleStreams& streams) {
  c10::cuda::CUDAGuard guard(z_in.device());
  auto z = z_in.contiguous();
  auto e = e_in.defined() ? e_in.to(at::kFloat).contiguous() : e_in;
  auto out = torch::empty_like(z);
  const int64_t total = z.numel();
  if (total == 0) return out;
  constexpr int threads = 256;
  const int64_t cap = int64_t(at::cuda::getCurrentDeviceProperties()->multiProcessorCount) * 32;
  const auto blocks = static_cast<unsigned>(std::max<int64_t>(1, std::min((total + threads - 1) / threads, cap)));
  noisy_update_kernel<<<blocks, threads, 0, at::cuda::getCurrentCUDAStream()>>>(z.data_ptr<float>(), e.defined() ? e.data_ptr<float>() : nullptr,
                                                                               out.data_ptr<float>(), streams, total / streams.count, c);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace lcmd::fused
