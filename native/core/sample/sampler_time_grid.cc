#include "core/sample/sampler_time_grid.h"

#include <string>

#include "core/base/error.h"

namespace lcmd {

std::vector<double> time_grid(int64_t steps) {
  LCMD_CHECK(steps >= 1, "E_RANGE", "the number of sampling steps must be at least 1, got " + std::to_string(steps));
  std::vector<double> grid(static_cast<size_t>(steps) + 1);
  for (int64_t j = 0; j <= steps; ++j) grid[j] = static_cast<double>(j) / static_cast<double>(steps);
  return grid;
}

}  // namespace lcmd
