#include "core/fused/counter_noise_fill.h"

#include <algorithm>

#include "core/fused/cpu_features.h"
#include "core/noise/counter_noise_math.h"

namespace lcmd::fused {

namespace {

// One row's elements [j0, j1): a loop over the counter alone, so that it vectorises.
inline __attribute__((always_inline)) void row_body(uint64_t key, int64_t j0, int64_t j1, bool normal, float* __restrict out) {
  if (normal) {
    for (int64_t j = j0; j < j1; ++j) out[j - j0] = counter_normal(key, static_cast<uint64_t>(j));
  } else {
    for (int64_t j = j0; j < j1; ++j) out[j - j0] = counter_uniform(key, static_cast<uint64_t>(j));
  }
}

inline __attribute__((always_inline)) void fill_body(const uint64_t* row_keys, int64_t m, int64_t begin, int64_t end, bool normal, float* out) {
  for (int64_t i = begin; i < end;) {
    const int64_t row = i / m, j0 = i % m, j1 = std::min(m, j0 + (end - i));
    row_body(row_keys[row], j0, j1, normal, out + i);
    i += j1 - j0;
  }
}

// The counter's 64-bit multiplications vectorise only with AVX-512 DQ; AVX2 still inlines the fmaf calls.
LCMD_TARGET_AVX512 void fill_avx512(const uint64_t* keys, int64_t m, int64_t begin, int64_t end, bool normal, float* out) {
  fill_body(keys, m, begin, end, normal, out);
}
LCMD_TARGET_AVX2 void fill_avx2(const uint64_t* keys, int64_t m, int64_t begin, int64_t end, bool normal, float* out) {
  fill_body(keys, m, begin, end, normal, out);
}
void fill_baseline(const uint64_t* keys, int64_t m, int64_t begin, int64_t end, bool normal, float* out) {
  fill_body(keys, m, begin, end, normal, out);
}

}  // namespace

void fill_counter_noise(const uint64_t* row_keys, int64_t m, int64_t begin, int64_t end, bool normal, float* out, NoiseCpuPath path) {
  if (m <= 0 || end <= begin) return;
  if (path == NoiseCpuPath::kAuto && cpu_uses_avx512()) fill_avx512(row_keys, m, begin, end, normal, out);
  else if (path == NoiseCpuPath::kAuto && cpu_uses_avx2()) fill_avx2(row_keys, m, begin, end, normal, out);
  else fill_baseline(row_keys, m, begin, end, normal, out);
}

std::vector<uint64_t> stream_row_keys(const ExampleStreams& streams) {
  std::vector<uint64_t> keys(streams.count);
  for (int64_t r = 0; r < streams.count; ++r)
    keys[r] = stream_key(streams.seed, streams.a, static_cast<uint64_t>(streams.first + r), streams.purpose);
  return keys;
}

const char* counter_noise_cpu_path() { return cpu_uses_avx512() ? "avx512" : (cpu_uses_avx2() ? "avx2+fma" : "baseline"); }

}  // namespace lcmd::fused
