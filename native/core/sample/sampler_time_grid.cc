#include "core/sample/sampler_time_grid.h"

#include <cmath>
#include <string>

#include "core/base/error.h"
#include "core/train/time_warp.h"

namespace lcmd {

std::vector<double> time_grid(int64_t steps, const NoiseSchedule& schedule, double grid_shift) {
  LCMD_CHECK(steps >= 1, "E_RANGE", "the number of sampling steps must be at least 1, got " + std::to_string(steps));
  LCMD_CHECK(std::isfinite(grid_shift) && grid_shift > 0, "E_RANGE", "the grid shift must be a finite number > 0, got " + std::to_string(grid_shift));
  std::vector<double> grid(static_cast<size_t>(steps) + 1);
  for (int64_t j = 0; j <= steps; ++j) grid[j] = static_cast<double>(j) / static_cast<double>(steps);
  if (grid_shift == 1.0 || steps == 1) return grid;
  const double offset = 2.0 * std::log(grid_shift);
  for (int64_t j = 1; j < steps; ++j) {
    auto lambda = torch::tensor({schedule.logsnr(grid[j]) + offset}, at::kDouble);
    grid[j] = schedule.t_from_logsnr(lambda).item<double>();
  }
  return grid;
}

std::vector<double> learned_time_grid(int64_t steps, const at::Tensor& stats) {
  LCMD_CHECK(steps >= 1, "E_RANGE", "the number of sampling steps must be at least 1, got " + std::to_string(steps));
  LCMD_CHECK(stats.defined() && stats.dim() == 2 && stats.size(0) == 2 && stats.size(1) == TimeWarp::kBins && stats.device().is_cpu(),
             "E_SHAPE", "time-warp statistics must be a CPU tensor [2, " + std::to_string(TimeWarp::kBins) + "]");
  auto u = torch::arange(1, steps, at::kDouble) / static_cast<double>(steps);
  auto interior = time_warp_times(stats, u).to(at::kDouble).contiguous();
  std::vector<double> grid(static_cast<size_t>(steps) + 1);
  grid[0] = 0.0;
  grid[steps] = 1.0;
  for (int64_t j = 1; j < steps; ++j) grid[j] = interior.data_ptr<double>()[j - 1];
  return grid;
}

}  // namespace lcmd
