// Counter-based random numbers: value i of stream `key` is a pure function of (key, i). Noise therefore does not
// depend on batch size, world size, device or call order, and needs no generator state in checkpoints.
// The per-element math is shared by the CPU path and the CUDA kernel (native/cuda/counter_noise.cu).
#pragma once
#include <cstdint>
#include <cmath>

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

// Standard normal by Box-Muller from two independent uniforms of the same stream.
LCMD_HOST_DEVICE float counter_normal(uint64_t key, uint64_t index) {
  float u1 = counter_uniform(key, 2 * index);
  float u2 = counter_uniform(key, 2 * index + 1);
  return sqrtf(-2.0f * logf(u1)) * cosf(6.283185307179586f * u2);
}

// Derives a stream key from a seed and up to three coordinates (step, example, purpose).
LCMD_HOST_DEVICE uint64_t stream_key(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
  return mix64(mix64(mix64(seed ^ 0x6C636D64ull) ^ a) ^ (b * 0x9E3779B97F4A7C15ull)) ^ mix64(c + 0x1234567ull);
}

}  // namespace lcmd
