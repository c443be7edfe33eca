#include "core/sampler_time_grid.h"

#include "core/error.h"
#include <cmath>
#include <cstdlib>

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
      grid[j] = std::pow(fraction, std::atof(std::getenv("LCMD_GRID_POWER")));
    }
  }
  return grid;
}

}  // namespace lcmd
