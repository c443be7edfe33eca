// Exact (erf) GELU and its derivative as branch-free float arithmetic, shared by the CPU loop (native/core/fused/gelu.cc)
// and the CUDA kernel (native/cuda/gelu.cu). No libm call, so the CPU loop vectorises; the error is that of
// libtorch's own vectorised erf, which uses the same Abramowitz-Stegun 7.1.26 approximation (|error| <= 1.5e-7).
#pragma once
#include <cmath>

#include "core/base/host_device.h"
#include "core/fused/exp_math.h"

namespace lcmd::fused {

// The pieces both directions need: Phi(x), the standard normal CDF, and phi(x), its density.
struct NormalAt {
  float cdf;
  float pdf;
};

// erfc(a) for a = |x| / sqrt(2) as poly(t) e^{-a^2}, t = 1 / (1 + p a): computed as a product, so the far tail
// Phi(x) = erfc(a) / 2 for x < 0 keeps its relative accuracy instead of cancelling in 1 + erf.
LCMD_HOST_DEVICE NormalAt normal_at(float x) {
  const float a = fabsf(x) * 0.70710678118654752f;
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  float poly = 1.061405429f;
  poly = poly * t - 1.453152027f;
  poly = poly * t + 1.421413741f;
  poly = poly * t - 0.284496736f;
  poly = poly * t + 0.254829592f;
  const float gauss = exp_approx(-a * a);  // e^{-x^2 / 2}, by the exp all fused loops share
  const float half_erfc = 0.5f * poly * t * gauss;
  return {x < 0.0f ? half_erfc : 1.0f - half_erfc, 0.3989422804014327f * gauss};
}

// GELU(x) = x Phi(x)
LCMD_HOST_DEVICE float gelu_value(float x) { return x * normal_at(x).cdf; }

// dGELU/dx = Phi(x) + x phi(x)
LCMD_HOST_DEVICE float gelu_slope(float x) {
  const NormalAt n = normal_at(x);
  return n.cdf + x * n.pdf;
}

}  // namespace lcmd::fused
