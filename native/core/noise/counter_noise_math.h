// Counter-based random numbers: value i of stream `key` is a pure function of (key, i). Noise therefore does not
// depend on batch size, world size, device or call order, and needs no generator state in checkpoints.
// The per-element math is shared by the CPU path and the CUDA kernel (native/cuda/counter_noise.cu).
#pragma once
#include <cstdint>
#include <cmath>

#include "core/base/float_bits.h"
#include "core/base/host_device.h"

namespace lcmd {

// SplitMix64 finaliser: a bijective 64-bit mixer with good avalanche.
LCMD_HOST_DEVICE uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Uniform in (0, 1) from the 23 high bits of a random word: (k + 0.5) 2^-23 for k in [0, 2^23). Every k + 0.5 needs
// at most 24 significant bits, so float32 holds it exactly: the values are equally spaced, the largest is
// 1 - 2^-24 and the smallest 2^-24 (never 0 or 1, so logs are finite). With 24 bits, k + 0.5 would round to an even
// integer for k >= 2^23 and k = 2^24 - 1 would give exactly 1.
LCMD_HOST_DEVICE float uniform_from_bits(uint64_t bits) {
  return (float(bits >> 41) + 0.5f) * (1.0f / 8388608.0f);
}

LCMD_HOST_DEVICE float counter_uniform(uint64_t key, uint64_t index) { return uniform_from_bits(mix64(key ^ mix64(index))); }

// The log and the cosine of Box-Muller are written here instead of calling logf / cosf, for two reasons: libm's and
// CUDA's logf / cosf differ in the last bits, so CPU and GPU noise were not the same numbers; and a libm call keeps
// the CPU loop from vectorising. Every multiply-add below is an explicit fmaf and no other product feeds a sum, so
// neither GCC nor nvcc can contract differently: with IEEE division and square root (nvcc's defaults), the CPU (with
// FMA hardware, or glibc's exact software fmaf) and CUDA give the same bits.

// ln(u) for a positive normal float u (the uniforms are in [2^-24, 1)), within about 1 ulp. u = 2^e m with
// m in [sqrt(1/2), sqrt 2); with f = m - 1 (exact) and s = f / (2 + f), ln(1 + f) = 2 atanh(s) = f - s (f - R) where
// R = sum_k 2 s^2k / (2k + 1) (fdlibm's form: the leading f is exact). |s| <= 0.172, so terms to s^12 leave < 1e-11.
LCMD_HOST_DEVICE float log_positive(float u) {
  const uint32_t bits = bits_of_float(u);
  const uint32_t mantissa = bits & 0x7FFFFFu;
  const uint32_t above_sqrt2 = mantissa > 0x3504F3u ? 1u : 0u;  // 1.mantissa > sqrt 2: halve m, raise e
  const float e = static_cast<float>(static_cast<int32_t>(bits >> 23) - 127 + static_cast<int32_t>(above_sqrt2));
  const float m = float_of_bits(mantissa | (above_sqrt2 ? 0x3F000000u : 0x3F800000u));
  const float f = m - 1.0f;
  const float s = f / (2.0f + f);
  const float z = s * s;
  float r = fmaf(z, 0.153846160f, 0.181818187f);  // 2 / (2k + 1) for k = 6 down to 1
  r = fmaf(z, r, 0.222222224f);
  r = fmaf(z, r, 0.285714298f);
  r = fmaf(z, r, 0.400000006f);
  r = fmaf(z, r, 0.666666687f);
  const float log1p_f = fmaf(-s, fmaf(-z, r, f), f);
  // e ln 2 with ln 2 split so that e times its high part is exact
  return fmaf(e, 0.693145752f, fmaf(e, 1.42860677e-06f, log1p_f));
}

// cos(2 pi u) for u in [0, 1], within about 1 ulp of the value (also near its zeros): u = q / 4 + f with q the nearest
// quarter turn and |f| <= 1/8 (exact), then cos or sin of 2 pi f by Taylor polynomials in f
// ((-1)^k (2 pi)^2k / (2k)! and (-1)^k (2 pi)^(2k+1) / (2k+1)!; |2 pi f| <= pi / 4, so the truncation is < 1e-12).
LCMD_HOST_DEVICE float cos_two_pi(float u) {
  const float q = floorf(fmaf(4.0f, u, 0.5f));
  const float f = fmaf(-0.25f, q, u);
  const float z = f * f;
  float c = fmaf(z, 7.90353632f, -26.4262562f);
  c = fmaf(z, c, 60.2446404f);
  c = fmaf(z, c, -85.4568176f);
  c = fmaf(z, c, 64.9393921f);
  c = fmaf(z, c, -19.7392082f);
  c = fmaf(z, c, 1.0f);
  float s = fmaf(z, -15.0946426f, 42.0586929f);
  s = fmaf(z, s, -76.7058563f);
  s = fmaf(z, s, 81.6052475f);
  s = fmaf(z, s, -41.3417015f);
  s = fmaf(z, s, 6.28318548f);
  s = s * f;
  // cos(2 pi f + q pi / 2) is cos, -sin, -cos, sin for q = 0, 1, 2, 3 (q = 4 is a full turn)
  const int32_t quadrant = static_cast<int32_t>(q) & 3;
  const float v = (quadrant & 1) ? s : c;
  return (quadrant == 1 || quadrant == 2) ? -v : v;
}

// Box-Muller: a standard normal from two independent uniforms in (0, 1).
LCMD_HOST_DEVICE float box_muller(float u1, float u2) { return sqrtf(-2.0f * log_positive(u1)) * cos_two_pi(u2); }

// Standard normal from the uniforms 2 index and 2 index + 1 of the stream.
LCMD_HOST_DEVICE float counter_normal(uint64_t key, uint64_t index) {
  return box_muller(counter_uniform(key, 2 * index), counter_uniform(key, 2 * index + 1));
}

// Derives a stream key from a seed and up to three coordinates (step, example, purpose).
LCMD_HOST_DEVICE uint64_t stream_key(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
  return mix64(mix64(mix64(seed ^ 0x6C636D64ull) ^ a) ^ (b * 0x9E3779B97F4A7C15ull)) ^ mix64(c + 0x1234567ull);
}

}  // namespace lcmd
