#include "core/noise/counter_noise.h"

#include <ATen/Parallel.h>

#include <vector>

#include "core/fused/counter_noise_fill.h"
#include "core/base/error.h"

namespace lcmd {

namespace {

at::Tensor counter_noise_cpu(const ExampleStreams& streams, int64_t m, bool normal) {
  const int64_t rows = streams.count;
  const auto keys = fused::stream_row_keys(streams);
  auto out = torch::empty({rows, m}, at::kFloat);
  float* o = out.data_ptr<float>();
  at::parallel_for(0, rows * m, 4096, [&](int64_t begin, int64_t end) {
    fused::fill_counter_noise(keys.data(), m, begin, end, normal, o);
  });
  return out;
}

at::Tensor counter_noise(const ExampleStreams& streams, int64_t m, c10::Device device, bool normal) {
  LCMD_CHECK(streams.count >= 0 && streams.first >= 0, "E_SHAPE", "counter noise needs a non-negative first row and row count");
  LCMD_CHECK(m >= 0, "E_SHAPE", "counter noise row length must be non-negative");
#ifdef LCMD_WITH_CUDA
  if (device.is_cuda()) return counter_noise_cuda(streams, m, normal, device);
#endif
  return counter_noise_cpu(streams, m, normal).to(device);
}

}  // namespace

at::Tensor counter_normal(const ExampleStreams& streams, int64_t m, c10::Device device) { return counter_noise(streams, m, device, true); }

at::Tensor counter_uniform(const ExampleStreams& streams, int64_t m, c10::Device device) { return counter_noise(streams, m, device, false); }

}  // namespace lcmd
