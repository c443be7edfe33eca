// The CPU loop of counter noise (core/noise/counter_noise.h), built for AVX-512, for AVX2 + FMA and for the
// x86-64 baseline like the other fused loops: the per-element math (core/noise/counter_noise_math.h) is branch-free
// arithmetic, so the AVX-512 build vectorises it. Every build, and the CUDA kernel, gives the same bits.
#pragma once
#include <cstdint>
#include <vector>

#include "core/noise/counter_noise.h"

namespace lcmd::fused {

enum class NoiseCpuPath { kAuto, kBaseline };

// out[i] for flat indices i in [begin, end) of a [rows, m] array whose row r is the stream row_keys[r]: element j of
// a row is counter_normal(key, j) or counter_uniform(key, j). kBaseline forces the baseline build (for tests).
void fill_counter_noise(const uint64_t* row_keys, int64_t m, int64_t begin, int64_t end, bool normal, float* out,
                        NoiseCpuPath path = NoiseCpuPath::kAuto);

// The key of each row's stream, stream_key(seed, a, first + r, purpose), for fill_counter_noise.
std::vector<uint64_t> stream_row_keys(const ExampleStreams& streams);

// "avx512", "avx2+fma" or "baseline": the build kAuto runs on this CPU.
const char* counter_noise_cpu_path();

}  // namespace lcmd::fused
