#include "core/fused/attention.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "core/base/error.h"
#include "core/fused/cpu_features.h"
#include "core/fused/exp_math.h"

namespace lcmd::fused {

namespace {

struct Shape {
  int64_t B, N, heads, dh, hidden;
  int64_t padded;  // N rounded up to 8: a score row in whole vectors of keys
  float scale;     // 1 / sqrt(dh)
};

// Eight floats: GCC lowers it to one AVX register in the AVX2 build and to two SSE registers in the baseline one.
typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));  // the same, loaded from any float address
// (by reference: a 32-byte vector returned by value would change the baseline build's ABI)
inline __attribute__((always_inline)) void load(v8& x, const float* p) { x = *reinterpret_cast<const v8u*>(p); }
inline __attribute__((always_inline)) void store(float* p, const v8& x) { *reinterpret_cast<v8u*>(p) = x; }

constexpr int64_t kRows = 4;  // query rows per tile: four accumulators and one shared load per step

// Scores of R query rows against 8 keys at a time (kt: keys transposed, [dh, padded]), R accumulators in registers.
template <int64_t R>
inline __attribute__((always_inline)) void score_rows(const float* const* q, const float* kt, const Shape& s, float* scores) {
  for (int64_t j = 0; j < s.padded; j += 8) {
    v8 acc[R] = {};
    for (int64_t e = 0; e < s.dh; ++e) {
      v8 k;
      load(k, kt + e * s.padded + j);
      for (int64_t r = 0; r < R; ++r) acc[r] += q[r][e] * k;
    }
    for (int64_t r = 0; r < R; ++r) store(scores + r * s.padded + j, acc[r] * s.scale);
  }
}

// Row softmax over the first N scores, in place; returns 1 / sum so that the weighted sum normalises once.
inline __attribute__((always_inline)) float softmax_row(float* row, int64_t N) {
  float m = row[0];
  for (int64_t j = 1; j < N; ++j) m = row[j] > m ? row[j] : m;
  for (int64_t j = 0; j < N; ++j) row[j] = exp_approx(row[j] - m);
  float sum = 0.0f;
  for (int64_t j = 0; j < N; ++j) sum += row[j];
  return 1.0f / sum;
}

// R output rows: sum_j p_rj v_j, 8 of dh at a time with R accumulators, then the remainder of dh one by one.
template <int64_t R>
inline __attribute__((always_inline)) void weighted_rows(const float* p, const float* inv, const float* v0, int64_t stride, const Shape& s,
                                                         float* const* o) {
  int64_t e = 0;
  for (; e + 8 <= s.dh; e += 8) {
    v8 acc[R] = {};
    for (int64_t j = 0; j < s.N; ++j) {
      v8 v;
      load(v, v0 + j * stride + e);
      for (int64_t r = 0; r < R; ++r) acc[r] += p[r * s.padded + j] * v;
    }
    for (int64_t r = 0; r < R; ++r) store(o[r] + e, acc[r] * inv[r]);
  }
  for (; e < s.dh; ++e)
    for (int64_t r = 0; r < R; ++r) {
      float acc = 0.0f;
      for (int64_t j = 0; j < s.N; ++j) acc += p[r * s.padded + j] * v0[j * stride + e];
      o[r][e] = acc * inv[r];
    }
}

template <int64_t R>
inline __attribute__((always_inline)) void query_tile(const float* base, float* out_base, int64_t i, const float* kt, const Shape& s,
                                                      float* scores) {
  const int64_t stride = 3 * s.hidden;
  const float* q[R];
  float* o[R];
  float inv[R];
  for (int64_t r = 0; r < R; ++r) {
    q[r] = base + (i + r) * stride;
    o[r] = out_base + (i + r) * s.hidden;
  }
  score_rows<R>(q, kt, s, scores);
  for (int64_t r = 0; r < R; ++r) inv[r] = softmax_row(scores + r * s.padded, s.N);
  weighted_rows<R>(scores, inv, base + 2 * s.hidden, stride, s, o);
}

// One sample: its [N, 3 hidden] block is copied first (one sequential read, which the hardware prefetches; the
// heads' strided rows are then read from L2), then per head the keys are transposed into kt ([dh, padded], padding
// columns zero) and the queries run in tiles of kRows. block, kt and scores are the calling thread's scratch.
inline __attribute__((always_inline)) void sample_body(const float* __restrict qkv, float* __restrict out, const Shape& s, int64_t b,
                                                       float* __restrict block, float* __restrict kt, float* __restrict scores) {
  const int64_t N = s.N, dh = s.dh, stride = 3 * s.hidden;
  std::memcpy(block, qkv + b * N * stride, sizeof(float) * N * stride);
  for (int64_t h = 0; h < s.heads; ++h) {
    const float* base = block + h * dh;  // q of position 0; its k at + hidden, its v at + 2 hidden
    for (int64_t j = 0; j < N; ++j)
      for (int64_t e = 0; e < dh; ++e) kt[e * s.padded + j] = base[j * stride + s.hidden + e];
    float* out_base = out + b * N * s.hidden + h * dh;
    int64_t i = 0;
    for (; i + kRows <= N; i += kRows) query_tile<kRows>(base, out_base, i, kt, s, scores);
    for (; i < N; ++i) query_tile<1>(base, out_base, i, kt, s, scores);
  }
}

inline __attribute__((always_inline)) void samples_body(const float* qkv, float* out, const Shape& s, int64_t begin, int64_t end) {
  std::vector<float> block(s.N * 3 * s.hidden), kt(s.dh * s.padded, 0.0f), scores(kRows * s.padded);  // kt's padding stays zero
  for (int64_t b = begin; b < end; ++b) sample_body(qkv, out, s, b, block.data(), kt.data(), scores.data());
}

LCMD_TARGET_AVX2 void samples_avx2(const float* qkv, float* out, const Shape& s, int64_t begin, int64_t end) {
  samples_body(qkv, out, s, begin, end);
}
void samples_baseline(const float* qkv, float* out, const Shape& s, int64_t begin, int64_t end) { samples_body(qkv, out, s, begin, end); }

}  // namespace

bool attention_is_fused(const at::Tensor& qkv, double dropout) {
  const bool wants_grad = at::GradMode::is_enabled() && qkv.requires_grad();
  return qkv.device().is_cpu() && qkv.scalar_type() == at::kFloat && dropout == 0.0 && !wants_grad;
}

at::Tensor attention_forward(const at::Tensor& qkv, int64_t heads) {
  LCMD_CHECK(qkv.dim() == 3 && qkv.size(2) % (3 * heads) == 0 && qkv.device().is_cpu() && qkv.scalar_type() == at::kFloat,
             "E_NATIVE", "the fused attention takes a float32 CPU [B, N, 3 * hidden] projection with hidden divisible by the heads");
  auto in = qkv.contiguous();
  const int64_t B = in.size(0), N = in.size(1), hidden = in.size(2) / 3, dh = hidden / heads;
  const Shape s{B, N, heads, dh, hidden, (N + 7) / 8 * 8, static_cast<float>(1.0 / std::sqrt(static_cast<double>(dh)))};
  auto out = torch::empty({B, N, hidden}, in.options());
  const float* src = in.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  // a sample is about 4 N^2 hidden flops; one per chunk is plenty of work to hand a thread
  at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
    cpu_uses_avx2() ? samples_avx2(src, dst, s, begin, end) : samples_baseline(src, dst, s, begin, end);
  });
  return out;
}

}  // namespace lcmd::fused
