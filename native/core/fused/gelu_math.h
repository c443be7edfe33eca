// Exact (erf) GELU and its derivative as branch-free float arithmetic, shared by the CPU loop (native/core/fused/gelu.cc)
// and the CUDA kernel (native/cuda/gelu.cu). No libm call, so the CPU loop vectorises; the error is that of
// libtorch's own vectorised erf, which uses the same Abramowitz-Stegun 7.1.26 approximation (|error| <= 1.5e-7).
#pragma once
#include <cstdint>

#include "core/base/float_bits.h"
#include "core/base/host_device.h"

namespace lcmd::fused {

// e^x for x in [-87, 88] (clamped outside): x = k ln2 + r with |r| <= ln2 / 2 (ln2 split in two for exactness),
// e^r by its degree-6 Taylor polynomial (truncation error r^7 / 7! < 1.3e-7), 2^k built in the exponent bits.
LCMD_HOST_DEVICE float exp_arith(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float scaled = x * 1.44269504088896341f;
  const int32_t k = static_cast<int32_t>(scaled + (scaled >= 0.0f ? 0.5f : -0.5f));
  const float kf = static_cast<float>(k);
  const float r = (x - kf * 0.693145751953125f) - kf * 1.428606765330187e-06f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  return p * float_of_bits(static_cast<uint32_t>((k + 127) << 23));
}

// The pieces both directions need: Phi(x), the standard normal CDF, and phi(x), its density.
struct NormalAt {
  float cdf;
  float pdf;
};

// erfc(a) for a = |x| / sqrt(2) as poly(t) e^{-a^2}, t = 1 / (1 + p a): computed as a product, so the far tail
// Phi(x) = erfc(a) / 2 for x < 0 keeps its relative accuracy instead of cancelling in 1 + erf.
LCMD_HOST_DEVICE NormalAt normal_at(float x) {
  const float a = (x < 0.0f ? -x : x) * 0.70710678118654752f;
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  float poly = 1.061405429f;
  poly = poly * t - 1.453152027f;
  poly = poly * t + 1.421413741f;
  poly = poly * t - 0.284496736f;
  poly = poly * t + 0.254829592f;
  const float gauss = exp_arith(-a * a);  // e^{-x^2 / 2}
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
