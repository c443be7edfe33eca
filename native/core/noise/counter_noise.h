// Batched counter-based noise: row r of the result is stream keys[r], elements 0..M-1.
#pragma once
#include <torch/torch.h>

namespace lcmd {

// keys: [R] int64 (stream keys, e.g. from stream_key); returns [R, M] float32 on `device`.
at::Tensor counter_normal(const at::Tensor& keys, int64_t m, c10::Device device);
at::Tensor counter_uniform(const at::Tensor& keys, int64_t m, c10::Device device);

// keys for each example of a batch: stream_key(seed, step, first_example + r, purpose), r < count.
at::Tensor example_keys(uint64_t seed, uint64_t step, int64_t first_example, int64_t count, uint64_t purpose);

#ifdef LCMD_WITH_CUDA
at::Tensor counter_noise_cuda(const at::Tensor& keys, int64_t m, bool normal, c10::Device device);
#endif

}  // namespace lcmd
