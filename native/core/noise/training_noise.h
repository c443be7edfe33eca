// All randomness of one training step, drawn from counter-based streams keyed by (seed, step, global example index).
// A step's noise is therefore the same whatever the world size or how the global batch is split across ranks.
#pragma once
#include <torch/torch.h>

#include <functional>

#include "core/diffusion/schedule.h"

namespace lcmd {

struct TrainingNoise {
  at::Tensor t;              // [B] time of the diffusion and CM terms
  at::Tensor s;              // [B] CM target time, s ~ U(0, t)
  at::Tensor t_weight;       // [B] importance weight of t for the VLB objective (1 for uniform t)
  at::Tensor eps_t;          // [B, N, d]
  at::Tensor eps_0;          // [B, N, d]
  at::Tensor drop_uniforms;  // [B, N]
  at::Tensor ratio_uniforms; // [B]
  at::Tensor class_uniforms; // [B]
  at::Tensor self_cond_uniforms; // [B] self-conditioning coin, on the host: it picks the rows of a first pass
};

// example_offset: index of this batch's first example within the step's global batch.
// importance_logsnr: draw t through the log-SNR importance proposal of vlb_importance.h (for the VLB objective).
// time_from_uniform, when set, maps t's uniforms to times (the learned time warp of core/train/time_warp.h); s follows t.
using TimeFromUniform = std::function<at::Tensor(const at::Tensor&)>;
TrainingNoise draw_training_noise(uint64_t seed, int64_t step, int64_t example_offset, int64_t batch, int64_t tokens, int64_t dim,
                                  const NoiseSchedule& schedule, bool importance_logsnr, c10::Device device,
                                  const TimeFromUniform& time_from_uniform = {});

}  // namespace lcmd
