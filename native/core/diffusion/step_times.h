// The schedule values at the two ends of one reverse step from time t to an earlier time s < t, in float64.
#pragma once
#include "core/diffusion/schedule.h"

namespace lcmd {

struct StepTimes {
  double alpha_s, sigma_s, alpha_t, sigma_t;
};

inline StepTimes step_times(const NoiseSchedule& schedule, double s, double t) {
  return {schedule.alpha(s), schedule.sigma(s), schedule.alpha(t), schedule.sigma(t)};
}

}  // namespace lcmd
