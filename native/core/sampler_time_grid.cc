#include "core/sampler_time_grid.h"

#include "core/error.h"

namespace lcmd {

std::vector<double> time_grid(int64_t steps, TimeSpacing spacing, const NoiseSchedule& schedule) {
  LCMD_CHECK(steps >= 1, "E_RANGE", "the number of sampling steps must be at least 1, got " + std::to_string(steps));
  std::vector<double> grid(static_cast<size_t>(steps) + 1);
  const double lambda_0 = schedule.logsnr(0.0);
  const double lambda_1 = schedule.logsnr(1.0);
  for (int64_t j = 0; j <= steps; ++j) {
    const double fraction = static_cast<double>(j) / static_cast<double>(steps);
    if (spacing == TimeSpacing::kUniform || j == 0 || j == steps) {
      grid[j] = fraction;
    } else {
      auto lambda = torch::full({1}, lambda_0 + fraction * (lambda_1 - lambda_0), at::kDouble);
      grid[j] = schedule.t_from_logsnr(lambda).item<double>();
    }
  }
  return grid;
}

}  // namespace lcmd
