// All randomness of one training step, drawn from counter-based streams keyed by (seed, step, global example index).
// A step's noise is therefore the same whatever the world size or how the global batch is split across ranks.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>

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

// The uniforms that set each example's noise level: t, and through t MaskGIT's mask ratio. "iid": one independent
// uniform per example. "low-discrepancy": u_i = frac(u + i phi) over the global example index i, with one uniform u
// per step and phi = (sqrt(5) - 1) / 2 (a Weyl sequence, in the spirit of VDM's low-discrepancy sampler). Each u_i is
// still uniform, so the objective's expectation is unchanged, but any run of consecutive examples spreads evenly over
// [0, 1) (gaps of at most about 2.6 / n among n of them), which lowers the step's loss variance across noise levels.
// It depends only on (seed, step, i): the same whatever the world size. [batch] float32 in [0, 1) on `device`.
at::Tensor noise_level_uniforms(uint64_t seed, int64_t step, int64_t example_offset, int64_t batch, const std::string& sampling,
                                c10::Device device);

// example_offset: index of this batch's first example within the step's global batch.
// importance_logsnr: draw t through the log-SNR importance proposal of vlb_importance.h (for the VLB objective).
// time_from_uniform, when set, maps t's uniforms to times (the learned time warp of core/train/time_warp.h); s follows t.
using TimeFromUniform = std::function<at::Tensor(const at::Tensor&)>;
// time_sampling: how the uniforms behind t are drawn (noise_level_uniforms).
TrainingNoise draw_training_noise(uint64_t seed, int64_t step, int64_t example_offset, int64_t batch, int64_t tokens, int64_t dim,
                                  const NoiseSchedule& schedule, bool importance_logsnr, c10::Device device,
                                  const TimeFromUniform& time_from_uniform = {}, const std::string& time_sampling = "iid");

}  // namespace lcmd
