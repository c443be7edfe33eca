// Per-sample reproducible noise for sampling (docs/method.md section 8, reproducibility).
//
// Every random number sample i of a run uses is a pure function of (seed, i, stream, position), drawn from the
// counter-based streams of core/counter_noise.h. A stream is one use of noise at one point of the time grid:
// the start z_1, the infill draw before the prediction at grid index j, the ancestral draw when leaving grid index j,
// the final categorical draw; with infill resampling, each repeat of a step is a stream of its own. So a sample's noise does not depend on which batch it lands in, on the batch size, on
// the other options' draws, on threads, on how many devices share the run, or on whether they are CPUs or GPUs
// (counter_noise_math.h computes the same bits on both).
#pragma once
#include <torch/torch.h>

#include <cstdint>

#include "core/noise/counter_noise.h"

namespace lcmd {

enum class SampleNoiseKind : uint64_t {
  kInitial = 0,    // z_1 ~ N(0, I)
  kInfill = 1,     // eps of alpha_t e_{x_M} + sigma_t eps, before the prediction at grid index j
  kAncestral = 2,  // the N(0, I) draw of the ancestral step that leaves grid index j
  kFinal = 3,      // uniforms of the final categorical draw (final = sample)
  kResample = 4,   // infill resampling: the forward draw that takes z_s back to t (see sampler.h)
  kTokenDraw = 5,  // uniforms of the token draw of the consistency step (and of MaskGIT's step) at grid index j
  kGumbel = 6,     // MaskGIT: uniforms of the Gumbel noise on the log-confidence at step j
};

class SampleNoise {
 public:
  // Noise for samples [first_sample, first_sample + count) of a run seeded with `seed`.
  SampleNoise(uint64_t seed, int64_t first_sample, int64_t count, c10::Device device);

  // [count, shape...] float32 standard normals on the device; row r belongs to sample first_sample + r.
  // `repeat` tells apart the repeats of one step when infilling resamples (0 without resampling).
  at::Tensor normal(SampleNoiseKind kind, int64_t grid_index, at::IntArrayRef shape, int64_t repeat = 0) const;
  // [count, shape...] float32 uniforms in (0, 1) on the device.
  at::Tensor uniform(SampleNoiseKind kind, int64_t grid_index, at::IntArrayRef shape, int64_t repeat = 0) const;
  // The streams normal() and uniform() draw from, for an update that makes its noise itself (core/fused/noisy_update.h).
  ExampleStreams streams(SampleNoiseKind kind, int64_t grid_index, int64_t repeat = 0) const;

 private:

  uint64_t seed_;
  int64_t first_sample_;
  int64_t count_;
  c10::Device device_;
};

}  // namespace lcmd
