#include "core/noise/training_noise.h"

#include <cmath>

#include "core/base/device.h"
#include "core/base/error.h"
#include "core/noise/counter_noise.h"
#include "core/eval/vlb_importance.h"

namespace lcmd {

namespace {
enum Purpose : uint64_t { kT = 1, kS, kEpsT, kEps0, kDrop, kRatio, kClass, kImportanceChoice, kSelfCond };
}

at::Tensor noise_level_uniforms(uint64_t seed, int64_t step, int64_t example_offset, int64_t batch, const std::string& sampling,
                                c10::Device device) {
  if (sampling == "iid") return counter_uniform(ExampleStreams{seed, uint64_t(step), example_offset, batch, kT}, 1, device).view({batch});
  LCMD_CHECK(sampling == "low-discrepancy", "E_CONFIG", "train.timeSampling must be 'iid' or 'low-discrepancy', got '" + sampling + "'");
  // the step's one uniform: the stream of example 0, whichever rank draws it
  const double u = counter_uniform(ExampleStreams{seed, uint64_t(step), 0, 1, kT}, 1, c10::Device(at::kCPU)).item<float>();
  const double phi = (std::sqrt(5.0) - 1.0) / 2.0;
  auto out = torch::empty({batch}, at::kFloat);
  float* p = out.data_ptr<float>();
  for (int64_t i = 0; i < batch; ++i) {
    double v = u + double(example_offset + i) * phi;
    v -= std::floor(v);
    // onto the grid of the counter uniforms, (k + 0.5) 2^-23 (counter_noise_math.h): never 0 or 1
    p[i] = float((std::floor(v * 8388608.0) + 0.5) / 8388608.0);
  }
  return host_to_device(out, device);
}

TrainingNoise draw_training_noise(uint64_t seed, int64_t step, int64_t example_offset, int64_t batch, int64_t tokens, int64_t dim,
                                  const NoiseSchedule& schedule, bool importance_logsnr, c10::Device device,
                                  const TimeFromUniform& time_from_uniform, const std::string& time_sampling) {
  auto streams = [&](Purpose p) { return ExampleStreams{seed, uint64_t(step), example_offset, batch, p}; };
  auto cpu = c10::Device(at::kCPU);
  TrainingNoise n;
  if (importance_logsnr) {
    // the importance proposal is a host computation in float64 over B values
    auto u_t = noise_level_uniforms(seed, step, example_offset, batch, time_sampling, cpu);
    auto u_choice = counter_uniform(streams(kImportanceChoice), 1, cpu).view({batch});
    auto samples = sample_logsnr_importance(schedule, u_choice, u_t);
    n.t = host_to_device(samples.t.to(at::kFloat), device);
    n.t_weight = host_to_device(samples.weight, device);
  } else {
    n.t = noise_level_uniforms(seed, step, example_offset, batch, time_sampling, device);
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
