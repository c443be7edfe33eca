// Batched counter-based noise: row r of the result is stream stream_key(seed, a, first + r, purpose), elements 0..M-1.
// The keys are derived where the noise is made (on the device for CUDA), so drawing noise copies nothing from the host.
#pragma once
#include <torch/torch.h>

#include <cstdint>

namespace lcmd {

// The streams of `count` consecutive examples (or samples) first, first + 1, ...: one per row.
struct ExampleStreams {
  uint64_t seed = 0;
  uint64_t a = 0;  // the first coordinate: the training step, or a sampler's grid index
  int64_t first = 0;
  int64_t count = 0;
  uint64_t purpose = 0;
};

// [count, m] float32 on `device`.
at::Tensor counter_normal(const ExampleStreams& streams, int64_t m, c10::Device device);
at::Tensor counter_uniform(const ExampleStreams& streams, int64_t m, c10::Device device);

#ifdef LCMD_WITH_CUDA
at::Tensor counter_noise_cuda(const ExampleStreams& streams, int64_t m, bool normal, c10::Device device);
#endif

}  // namespace lcmd
