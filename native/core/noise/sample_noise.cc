#include "core/noise/sample_noise.h"

#include "core/noise/counter_noise.h"
#include "core/base/error.h"

namespace lcmd {

namespace {

// Keeps sampling streams apart from the training streams that share core/counter_noise.h.
constexpr uint64_t kSamplingPurpose = 0x53414D504C450000ull;  // "SAMPLE\0\0"
constexpr uint64_t kKinds = 8;  // room for the SampleNoiseKind values

int64_t per_sample_numel(at::IntArrayRef shape) {
  int64_t m = 1;
  for (auto s : shape) m *= s;
  return m;
}

std::vector<int64_t> with_rows(int64_t rows, at::IntArrayRef shape) {
  std::vector<int64_t> full{rows};
  full.insert(full.end(), shape.begin(), shape.end());
  return full;
}

}  // namespace

SampleNoise::SampleNoise(uint64_t seed, int64_t first_sample, int64_t count, c10::Device device)
    : seed_(seed), first_sample_(first_sample), count_(count), device_(device) {
  LCMD_CHECK(first_sample >= 0 && count >= 0, "E_RANGE", "sample noise needs a non-negative first sample and count");
}

ExampleStreams SampleNoise::streams(SampleNoiseKind kind, int64_t grid_index, int64_t repeat) const {
  // stream (a, sample, purpose): the grid index is `a`, and the purpose holds the kind and the repeat (repeat 0 is the
  // plain stream of that kind).
  const uint64_t purpose = kSamplingPurpose + static_cast<uint64_t>(kind) + kKinds * static_cast<uint64_t>(repeat);
  return {seed_, static_cast<uint64_t>(grid_index), first_sample_, count_, purpose};
}

at::Tensor SampleNoise::normal(SampleNoiseKind kind, int64_t grid_index, at::IntArrayRef shape, int64_t repeat) const {
  return counter_normal(streams(kind, grid_index, repeat), per_sample_numel(shape), device_).view(with_rows(count_, shape));
}

at::Tensor SampleNoise::uniform(SampleNoiseKind kind, int64_t grid_index, at::IntArrayRef shape, int64_t repeat) const {
  return counter_uniform(streams(kind, grid_index, repeat), per_sample_numel(shape), device_).view(with_rows(count_, shape));
}

}  // namespace lcmd
