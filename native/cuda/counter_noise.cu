// CUDA twin of the CPU counter noise in native/core/noise/counter_noise.cc; the per-element math is shared
// (native/core/noise/counter_noise_math.h, no libm call), so both devices produce the same bits. Each thread derives
// its row's stream key itself: nothing is copied from the host.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/torch.h>

#include "core/noise/counter_noise.h"
#include "core/noise/counter_noise_math.h"

namespace lcmd {

namespace {

__global__ void counter_noise_kernel(ExampleStreams streams, int64_t m, bool normal, float* out) {
  int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  int64_t total = streams.count * m;
  for (; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    uint64_t key = stream_key(streams.seed, streams.a, static_cast<uint64_t>(streams.first + i / m), streams.purpose);
    uint64_t index = static_cast<uint64_t>(i % m);
    out[i] = normal ? counter_normal(key, index) : counter_uniform(key, index);
  }
}

}  // namespace

at::Tensor counter_noise_cuda(const ExampleStreams& streams, int64_t m, bool normal, c10::Device device) {
  c10::cuda::CUDAGuard guard(device);
  auto out = torch::empty({streams.count, m}, at::TensorOptions().dtype(at::kFloat).device(device));
  int64_t total = streams.count * m;
  if (total == 0) return out;
  int threads = 256;
  int64_t blocks = std::min<int64_t>((total + threads - 1) / threads, 65535);
  counter_noise_kernel<<<blocks, threads, 0, at::cuda::getCurrentCUDAStream()>>>(streams, m, normal, out.data_ptr<float>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace lcmd
