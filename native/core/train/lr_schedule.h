// Learning rate at a step: linear warm-up, then constant or cosine decay to min_lr_ratio * lr.
#pragma once
#include <cstdint>

#include "core/train/train_config.h"

namespace lcmd {

double learning_rate(const TrainConfig& config, int64_t step);

// The loss weights at a step, with the optional linear ramps of TrainConfig.
double lambda_cm_at(const TrainConfig& config, int64_t step);
double lambda_diff_at(const TrainConfig& config, int64_t step);

}  // namespace lcmd
