// CUDA twin of the CPU counter noise in native/core/counter_noise.cc; the per-element math is shared
// (native/core/counter_noise_math.h), so both devices produce the same numbers up to float rounding of logf/cosf.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/torch.h>

#include "core/noise/counter_noise.h"
#include "core/noise/counter_noise_math.h"

namespace lcmd {

namespace {

__global__ void counter_noise_kernel(const int64_t* keys, int64_t rows, int64_t m, bool normal, float* out) {
  int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  int64_t total = rows * m;
  for (; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    uint64_t key = static_cast<uint64_t>(keys[i / m]);
    uint64_t index = static_cast<uint64_t>(i % m);
    out[i] = normal ? counter_normal(key, index) : counter_uniform(key, index);
  }
}

}  // namespace

at::Tensor counter_noise_cuda(const at::Tensor& keys, int64_t m, bool normal, c10::Device device) {
  c10::cuda::CUDAGuard guard(device);
  auto k = keys.to(device, at::kLong).contiguous();
  int64_t rows = k.size(0);
  auto out = torch::empty({rows, m}, at::TensorOptions().dtype(at::kFloat).device(device));
  int64_t total = rows * m;
  if (total == 0) return out;
  int threads = 256;
  int64_t blocks = std::min<int64_t>((total + threads - 1) / threads, 65535);
  counter_noise_kernel<<<blocks, threads, 0, at::cuda::getCurrentCUDAStream()>>>(k.data_ptr<int64_t>(), rows, m, normal,
                                                                                 out.data_ptr<float>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace lcmd
