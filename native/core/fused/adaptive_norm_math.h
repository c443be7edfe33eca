// The per-element math of AdaLN, y = LayerNorm(x) (1 + scale) + shift, and of its gradient, shared by the CPU loop
// (native/core/fused/adaptive_norm.cc) and the CUDA kernels (native/cuda/adaptive_norm.cu). Each side reduces a row
// its own way (a loop of partial sums, warp shuffles); statistics are float32 on both, whatever the storage type.
#pragma once
#include <cmath>

#include "core/base/host_device.h"

namespace lcmd::fused {

// 1 / sqrt(var + eps), the row's inverse standard deviation
LCMD_HOST_DEVICE float inverse_std(float var, float eps) { return 1.0f / sqrtf(var + eps); }

// the normalised value xhat = (x - mean) / std
LCMD_HOST_DEVICE float normalized(float x, float mean, float rstd) { return (x - mean) * rstd; }

// y = xhat (1 + scale) + shift
LCMD_HOST_DEVICE float modulated_norm(float x, float mean, float rstd, float scale, float shift) {
  return normalized(x, mean, rstd) * (1.0f + scale) + shift;
}

// the gradient at xhat, from the gradient at y
LCMD_HOST_DEVICE float normalized_grad(float grad_y, float scale) { return grad_y * (1.0f + scale); }

// the gradient at x: rstd (g - mean(g) - xhat mean(g xhat)), with g the gradient at xhat and the means over the row
LCMD_HOST_DEVICE float norm_input_grad(float g, float xhat, float mean_g, float mean_g_xhat, float rstd) {
  return rstd * (g - mean_g - xhat * mean_g_xhat);
}

}  // namespace lcmd::fused
