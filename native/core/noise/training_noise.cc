#include "core/noise/training_noise.h"

#include "core/noise/counter_noise.h"
#include "core/eval/vlb_importance.h"

namespace lcmd {

namespace {
enum Purpose : uint64_t { kT = 1, kS, kEpsT, kEps0, kDrop, kRatio, kClass, kImportanceChoice, kSelfCond };
}

TrainingNoise draw_training_noise(uint64_t seed, int64_t step, int64_t example_offset, int64_t batch, int64_t tokens, int64_t dim,
                                  const NoiseSchedule& schedule, bool importance_logsnr, c10::Device device) {
  auto keys = [&](Purpose p) { return example_keys(seed, uint64_t(step), example_offset, batch, p); };
  auto cpu = c10::Device(at::kCPU);
  TrainingNoise n;
  auto u_t = counter_uniform(keys(kT), 1, cpu).view({batch});
  if (importance_logsnr) {
    auto u_choice = counter_uniform(keys(kImportanceChoice), 1, cpu).view({batch});
    auto samples = sample_logsnr_importance(schedule, u_choice, u_t);
    n.t = samples.t.to(at::kFloat);
    n.t_weight = samples.weight;
  } else {
    n.t = u_t;
    n.t_weight = torch::ones({batch}, at::kDouble);
  }
  n.s = n.t * counter_uniform(keys(kS), 1, cpu).view({batch});
  n.eps_t = counter_normal(keys(kEpsT), tokens * dim, device).view({batch, tokens, dim});
  n.eps_0 = counter_normal(keys(kEps0), tokens * dim, device).view({batch, tokens, dim});
  n.drop_uniforms = counter_uniform(keys(kDrop), tokens, device);
  n.ratio_uniforms = counter_uniform(keys(kRatio), 1, device).view({batch});
  n.class_uniforms = counter_uniform(keys(kClass), 1, device).view({batch});
  n.self_cond_uniforms = counter_uniform(keys(kSelfCond), 1, device).view({batch});
  n.t = n.t.to(device);
  n.s = n.s.to(device);
  n.t_weight = n.t_weight.to(device);
  return n;
}

}  // namespace lcmd
