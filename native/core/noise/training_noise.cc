#include "core/noise/training_noise.h"

#include "core/base/device.h"
#include "core/noise/counter_noise.h"
#include "core/eval/vlb_importance.h"

namespace lcmd {

namespace {
enum Purpose : uint64_t { kT = 1, kS, kEpsT, kEps0, kDrop, kRatio, kClass, kImportanceChoice, kSelfCond };
}

TrainingNoise draw_training_noise(uint64_t seed, int64_t step, int64_t example_offset, int64_t batch, int64_t tokens, int64_t dim,
                                  const NoiseSchedule& schedule, bool importance_logsnr, c10::Device device,
                                  const TimeFromUniform& time_from_uniform) {
  auto streams = [&](Purpose p) { return ExampleStreams{seed, uint64_t(step), example_offset, batch, p}; };
  auto cpu = c10::Device(at::kCPU);
  TrainingNoise n;
  if (importance_logsnr) {
    // the importance proposal is a host computation in float64 over B values
    auto u_t = counter_uniform(streams(kT), 1, cpu).view({batch});
    auto u_choice = counter_uniform(streams(kImportanceChoice), 1, cpu).view({batch});
    auto samples = sample_logsnr_importance(schedule, u_choice, u_t);
    n.t = host_to_device(samples.t.to(at::kFloat), device);
    n.t_weight = host_to_device(samples.weight, device);
  } else {
    n.t = counter_uniform(streams(kT), 1, device).view({batch});
    if (time_from_uniform) n.t = time_from_uniform(n.t);
    n.t_weight = torch::ones({batch}, at::TensorOptions().dtype(at::kDouble).device(device));
  }
  n.s = n.t * counter_uniform(streams(kS), 1, device).view({batch});
  n.eps_t = counter_normal(streams(kEpsT), tokens * dim, device).view({batch, tokens, dim});
  n.eps_0 = counter_normal(streams(kEps0), tokens * dim, device).view({batch, tokens, dim});
  n.drop_uniforms = counter_uniform(streams(kDrop), tokens, device);
  n.ratio_uniforms = counter_uniform(streams(kRatio), 1, device).view({batch});
  n.class_uniforms = counter_uniform(streams(kClass), 1, device).view({batch});
  n.self_cond_uniforms = counter_uniform(streams(kSelfCond), 1, cpu).view({batch});
  return n;
}

}  // namespace lcmd
