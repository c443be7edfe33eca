// e^x in float32 as branch-free arithmetic, so that the fused CPU loops vectorise (a libm call keeps them scalar) and
// CPU and CUDA compute the same function. Cephes' expf: x = n ln 2 + r with |r| <= ln 2 / 2 (ln 2 split so that n
// times its high part is exact), e^r by a degree-7 polynomial, 2^n built in the exponent bits; within 2 ulp.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/base/float_bits.h"
#include "core/base/host_device.h"

namespace lcmd::fused {

// e^x; 0 below -87 (where e^x is under float32's normal range), about 1.65e38 above 88, NaN for NaN.
LCMD_HOST_DEVICE float exp_approx(float x) {
  // clamped by selects, which vectorise (fminf / fmaxf stay libm calls); a NaN x is computed as -87, restored at the end
  float c = (x < -87.0f || x != x) ? -87.0f : x;
  c = c > 88.0f ? 88.0f : c;
  const float n = floorf(fmaf(c, 1.44269504f, 0.5f));
  float r = fmaf(n, -0.693359375f, c);
  r = fmaf(n, 2.12194440e-4f, r);
  float p = fmaf(1.9875691500e-4f, r, 1.3981999507e-3f);
  p = fmaf(p, r, 8.3334519073e-3f);
  p = fmaf(p, r, 4.1665795894e-2f);
  p = fmaf(p, r, 1.6666665459e-1f);
  p = fmaf(p, r, 5.0000001201e-1f);
  p = fmaf(p, r * r, r) + 1.0f;
  const float scale = float_of_bits(static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23);
  float y = p * scale;
  y = x < -87.0f ? 0.0f : y;
  return x != x ? x : y;
}

}  // namespace lcmd::fused
