// The sampling time grid of docs/method.md section 8, from t_T = 1 (pure noise) to t_0 = 0.
//
// The default is uniform, t_j = j / T. On the oracle (32 and 64 random 4x4 grids, K = 16 / 64, 2000 samples, 4 to 64
// ancestral or DDIM steps), equal steps in log-SNR and t^p grids (p = 0.7, more steps at high noise; p = 1.5) matched
// or lost to the uniform grid in total-variation distance to the data distribution. A trained model is not the
// oracle: its predictions can be uninformative over much of [0, 1], so the grid can be shifted (grid_shift g) the way
// the training schedule is: interior time t_j moves to the time whose log-SNR is that of j / T plus 2 log g. g > 1
// puts more steps at low noise, g < 1 at high noise, g = 1 is the uniform grid; t_T = 1 and t_0 = 0 stay.
//
// A model trained with train.timeWarp "learned" carries its own grid (timeGrid "learned"): the interior times are the
// training warp's inverse CDF at j / T (core/train/time_warp.h), so each step covers an equal share of the rise of
// the cross-entropy -log p(x | z_t) and no step is spent where the prediction barely changes. This is how CDCD
// (Dieleman et al. 2022) samples with its warp; unlike g it adapts to the data and the model without a sweep.
#pragma once
#include <cstdint>
#include <vector>

#include "core/diffusion/schedule.h"

namespace lcmd {

// Returns T + 1 float64 times, increasing, with grid[T] = 1 and grid[0] = 0 exactly; grid[j] = j / T when g = 1.
std::vector<double> time_grid(int64_t steps, const NoiseSchedule& schedule, double grid_shift = 1.0);

// The learned grid from the warp statistics `stats` [2, TimeWarp::kBins] on the CPU: T + 1 times as above, interior
// times float32-exact (the warp's precision), strictly increasing since every bin keeps some probability.
std::vector<double> learned_time_grid(int64_t steps, const at::Tensor& stats);

}  // namespace lcmd
