#include "core/noise/counter_noise.h"

#include <ATen/Parallel.h>

#include "core/noise/counter_noise_math.h"
#include "core/base/error.h"

namespace lcmd {

namespace {

at::Tensor counter_noise_cpu(const at::Tensor& keys, int64_t m, bool normal) {
  auto keys_cpu = keys.to(at::kCPU, at::kLong).contiguous();
  int64_t rows = keys_cpu.size(0);
  auto out = torch::empty({rows, m}, at::kFloat);
  const int64_t* k = keys_cpu.data_ptr<int64_t>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, rows * m, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      uint64_t key = static_cast<uint64_t>(k[i / m]);
      uint64_t index = static_cast<uint64_t>(i % m);
      o[i] = normal ? counter_normal(key, index) : counter_uniform(key, index);
    }
  });
  return out;
}

at::Tensor counter_noise(const at::Tensor& keys, int64_t m, c10::Device device, bool normal) {
  LCMD_CHECK(keys.dim() == 1, "E_SHAPE", "counter noise keys must be a 1-D tensor");
  LCMD_CHECK(m >= 0, "E_SHAPE", "counter noise row length must be non-negative");
#ifdef LCMD_WITH_CUDA
  if (device.is_cuda()) return counter_noise_cuda(keys, m, normal, device);
#endif
  return counter_noise_cpu(keys, m, normal).to(device);
}

}  // namespace

at::Tensor counter_normal(const at::Tensor& keys, int64_t m, c10::Device device) { return counter_noise(keys, m, device, true); }

at::Tensor counter_uniform(const at::Tensor& keys, int64_t m, c10::Device device) { return counter_noise(keys, m, device, false); }

at::Tensor example_keys(uint64_t seed, uint64_t step, int64_t first_example, int64_t count, uint64_t purpose) {
  auto keys = torch::empty({count}, at::kLong);
  auto* k = keys.data_ptr<int64_t>();
  for (int64_t r = 0; r < count; ++r)
    k[r] = static_cast<int64_t>(stream_key(seed, step, static_cast<uint64_t>(first_example + r), purpose));
  return keys;
}

}  // namespace lcmd
