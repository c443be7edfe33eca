#include "core/fused/counter_noise_fill.h"

#include <algorithm>

#include "core/fused/cpu_features.h"
#include "core/noise/counter_noise_math.h"

namespace lcmd::fused {

namespace {

// Normals per pass of the two-pass loop below: its uniforms stay in L1.
constexpr int64_t kNormalChunk = 256;

// One row's elements [j0, j1): a loop over the counter alone, so that it vectorises. Normals take two passes: the
// uniforms first (without AVX-512 the 64-bit multiplications of mix64 keep that loop scalar), then Box-Muller over
// whole vectors; one fused loop would leave the log and the cosine scalar too. Same functions, same bits.
inline __attribute__((always_inline)) void row_body(uint64_t key, int64_t j0, int64_t j1, bool normal, float* __restrict out) {
  if (normal) {
    float u1[kNormalChunk], u2[kNormalChunk];
    for (int64_t c0 = j0; c0 < j1; c0 += kNormalChunk) {
      const int64_t n = std::min(kNormalChunk, j1 - c0);
      for (int64_t k = 0; k < n; ++k) {
        const auto index = static_cast<uint64_t>(c0 + k);
        u1[k] = counter_uniform(key, 2 * index);
        u2[k] = counter_uniform(key, 2 * index + 1);
      }
      for (int64_t k = 0; k < n; ++k) out[c0 - j0 + k] = box_muller(u1[k], u2[k]);
    }
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
