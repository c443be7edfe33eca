// The sampling time grid of docs/method.md section 8, from t_T = 1 (pure noise) to t_0 = 0.
//
// The default is uniform, t_j = j / T. On the oracle (32 and 64 random 4x4 grids, K = 16 / 64, 2000 samples, 4 to 64
// ancestral or DDIM steps), equal steps in log-SNR and t^p grids (p = 0.7, more steps at high noise; p = 1.5) matched
// or lost to the uniform grid in total-variation distance to the data distribution. A trained model is not the
// oracle: its predictions can be uninformative over much of [0, 1], so the grid can be shifted (grid_shift g) the way
// the training schedule is: interior time t_j moves to the time whose log-SNR is that of j / T plus 2 log g. g > 1
// puts more steps at low noise, g < 1 at high noise, g = 1 is the uniform grid; t_T = 1 and t_0 = 0 stay.
#pragma once
#include <cstdint>
#include <vector>

#include "core/diffusion/schedule.h"

namespace lcmd {

// Returns T + 1 float64 times, increasing, with grid[T] = 1 and grid[0] = 0 exactly; grid[j] = j / T when g = 1.
std::vector<double> time_grid(int64_t steps, const NoiseSchedule& schedule, double grid_shift = 1.0);

}  // namespace lcmd
