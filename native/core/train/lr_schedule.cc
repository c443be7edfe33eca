#include "core/train/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace lcmd {

namespace {

double ramp(double start, double end, int64_t ramp_steps, int64_t step) {
  if (end < 0 || ramp_steps <= 0) return start;
  double f = std::min(1.0, double(step) / double(ramp_steps));
  return start + f * (end - start);
}

}  // namespace

double learning_rate(const TrainConfig& c, int64_t step) {
  if (c.warmup_steps > 0 && step < c.warmup_steps) return c.lr * double(step + 1) / double(c.warmup_steps);
  if (c.lr_schedule == "cosine") {
    double span = std::max<double>(1.0, double(c.total_steps - c.warmup_steps));
    double progress = std::clamp(double(step - c.warmup_steps) / span, 0.0, 1.0);
    double cosine = 0.5 * (1.0 + std::cos(3.14159265358979323846 * progress));
    return c.lr * (c.min_lr_ratio + (1.0 - c.min_lr_ratio) * cosine);
  }
  return c.lr;
}

double lambda_cm_at(const TrainConfig& c, int64_t step) { return ramp(c.lambda_cm, c.lambda_cm_final, c.weight_ramp_steps, step); }

double lambda_diff_at(const TrainConfig& c, int64_t step) {
  return ramp(c.lambda_diff, c.lambda_diff_final, c.weight_ramp_steps, step);
}

}  // namespace lcmd
