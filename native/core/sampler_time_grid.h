// The sampling time grid of SPEC section 8: t_j for j = T .. 0, from t_T = 1 (pure noise) to t_0 = 0.
#pragma once
#include <vector>

#include "core/schedule.h"

namespace lcmd {

enum class TimeSpacing {
  kUniform,  // t_j = j / T (SPEC section 8; the default)
  kLogSnr,   // equal steps in log-SNR between lambda(1) and lambda(0): more of the grid at high and low noise ends
};

// Returns T + 1 float64 times, grid[j] = t_j, so grid[T] = 1 and grid[0] = 0 exactly.
std::vector<double> time_grid(int64_t steps, TimeSpacing spacing, const NoiseSchedule& schedule);

}  // namespace lcmd
