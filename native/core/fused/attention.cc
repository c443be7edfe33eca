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
  int64_t N, heads, dh, hidden;
  int64_t padded;  // N rounded up to 8: a score row in whole vectors of keys
  float scale;     // 1 / sqrt(dh)
};

// The tensors of one call; null where unused (keep_scale without dropout, probs, grad and dqkv in the forward).
struct Buffers {
  const float* qkv;
  const float* keep_scale;  // [B, heads, N, N]
  float* probs;             // [B, heads, N, N]: the forward writes it, the backward reads it
  const float* grad;        // [B, N, hidden]
  float* out;               // forward: [B, N, hidden]; backward: dqkv, [B, N, 3 hidden]
};

// Eight floats: GCC lowers it to one AVX register in the AVX2 build and to two SSE registers in the baseline one.
typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));  // the same, loaded from any float address
// (by reference: a 32-byte vector returned by value would change the baseline build's ABI)
inline __attribute__((always_inline)) void load(v8& x, const float* p) { x = *reinterpret_cast<const v8u*>(p); }
inline __attribute__((always_inline)) void store(float* p, const v8& x) { *reinterpret_cast<v8u*>(p) = x; }

constexpr int64_t kRows = 4;  // rows per tile
constexpr int64_t kVectors = 2;  // vectors of 8 columns per tile: kRows x kVectors accumulators hide the FMA latency

// out[r][j] = scale * sum_e a[r][e] bt[e][j] for R rows a[r] and the C x 8 columns of bt ([depth, padded]) from j, with
// R x C accumulators in registers. out rows are `padded` apart.
template <int64_t R, int64_t C>
inline __attribute__((always_inline)) void product_tile(const float* const* a, const float* bt, int64_t depth, int64_t padded, float scale,
                                                        int64_t j, float* out) {
  v8 acc[R][C] = {};
  for (int64_t e = 0; e < depth; ++e) {
    v8 b[C];
    for (int64_t c = 0; c < C; ++c) load(b[c], bt + e * padded + j + 8 * c);
    for (int64_t r = 0; r < R; ++r) {
      const float x = a[r][e];
      for (int64_t c = 0; c < C; ++c) acc[r][c] += x * b[c];
    }
  }
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) store(out + r * padded + j + 8 * c, acc[r][c] * scale);
}

// product_tile over all `padded` columns: kVectors at a time, then single vectors.
template <int64_t R>
inline __attribute__((always_inline)) void product_rows(const float* const* a, const float* bt, int64_t depth, int64_t padded, float scale,
                                                        float* out) {
  int64_t j = 0;
  for (; j + 8 * kVectors <= padded; j += 8 * kVectors) product_tile<R, kVectors>(a, bt, depth, padded, scale, j, out);
  for (; j < padded; j += 8) product_tile<R, 1>(a, bt, depth, padded, scale, j, out);
}

// out[r][e] = factor[r] * sum_{j < count} coef[r][j] rows[j][e] for the C x 8 columns e of `rows` from e0, with R x C
// accumulators. coef rows are `padded` apart, rows[j] are `row_stride` apart.
template <int64_t R, int64_t C>
inline __attribute__((always_inline)) void combine_tile(const float* coef, int64_t padded, const float* factor, const float* rows,
                                                        int64_t row_stride, int64_t count, int64_t e0, float* const* out) {
  v8 acc[R][C] = {};
  for (int64_t j = 0; j < count; ++j) {
    v8 v[C];
    for (int64_t c = 0; c < C; ++c) load(v[c], rows + j * row_stride + e0 + 8 * c);
    for (int64_t r = 0; r < R; ++r) {
      const float w = coef[r * padded + j];
      for (int64_t c = 0; c < C; ++c) acc[r][c] += w * v[c];
    }
  }
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) store(out[r] + e0 + 8 * c, acc[r][c] * factor[r]);
}

// combine_tile over the first `width` columns: kVectors x 8 at a time, then 8, then the remainder one by one.
template <int64_t R>
inline __attribute__((always_inline)) void combine_rows(const float* coef, int64_t padded, const float* factor, const float* rows,
                                                        int64_t row_stride, int64_t count, int64_t width, float* const* out) {
  int64_t e = 0;
  for (; e + 8 * kVectors <= width; e += 8 * kVectors) combine_tile<R, kVectors>(coef, padded, factor, rows, row_stride, count, e, out);
  for (; e + 8 <= width; e += 8) combine_tile<R, 1>(coef, padded, factor, rows, row_stride, count, e, out);
  for (; e < width; ++e)
    for (int64_t r = 0; r < R; ++r) {
      float acc = 0.0f;
      for (int64_t j = 0; j < count; ++j) acc += coef[r * padded + j] * rows[j * row_stride + e];
      out[r][e] = acc * factor[r];
    }
}

// combine_rows for the N rows of an N x N coef (out row i at out_first + i * out_stride): tiles of kRows, then the
// rows left over one at a time.
inline __attribute__((always_inline)) void combine_all(const float* coef, int64_t padded, float factor, const float* rows, int64_t row_stride,
                                                       int64_t N, int64_t width, float* out_first, int64_t out_stride) {
  const float f[kRows] = {factor, factor, factor, factor};
  int64_t i = 0;
  for (; i + kRows <= N; i += kRows) {
    float* o[kRows];
    for (int64_t r = 0; r < kRows; ++r) o[r] = out_first + (i + r) * out_stride;
    combine_rows<kRows>(coef + i * padded, padded, f, rows, row_stride, N, width, o);
  }
  for (; i < N; ++i) {
    float* o[1] = {out_first + i * out_stride};
    combine_rows<1>(coef + i * padded, padded, f, rows, row_stride, N, width, o);
  }
}

// dst[c][r] = src[r][c] for r < rows, c < cols; dst rows are `padded` apart (its columns past `rows` keep their zeros).
inline __attribute__((always_inline)) void transpose(const float* src, int64_t src_stride, int64_t rows, int64_t cols, float* dst, int64_t padded) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * padded + r] = src[r * src_stride + c];
}

// The sum and the maximum of a vector's eight lanes.
inline __attribute__((always_inline)) float lane_sum(const v8& x) {
  float sum = 0.0f;
  for (int64_t l = 0; l < 8; ++l) sum += x[l];
  return sum;
}
inline __attribute__((always_inline)) float lane_max(const v8& x) {
  float m = x[0];
  for (int64_t l = 1; l < 8; ++l) m = x[l] > m ? x[l] : m;
  return m;
}

// sum_j a[j] b[j] for j < n: eight lanes at a time (a scalar sum would wait on each add in turn), then the rest.
inline __attribute__((always_inline)) float dot(const float* a, const float* b, int64_t n) {
  v8 acc = {};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    v8 x, y;
    load(x, a + j);
    load(y, b + j);
    acc += x * y;
  }
  float sum = lane_sum(acc);
  for (; j < n; ++j) sum += a[j] * b[j];
  return sum;
}

// Row softmax over the first N of `padded` scores, in place: the exponentials (zeros past N), and 1 / their sum as the
// return value. Whole vectors throughout, the padding set to -inf so that it neither wins the maximum nor adds to the sum.
inline __attribute__((always_inline)) float softmax_row(float* row, int64_t N, int64_t padded) {
  for (int64_t j = N; j < padded; ++j) row[j] = -INFINITY;
  v8 m;
  load(m, row);
  for (int64_t j = 8; j < padded; j += 8) {
    v8 x;
    load(x, row + j);
    m = x > m ? x : m;
  }
  const float top = lane_max(m);
  for (int64_t j = 0; j < padded; ++j) row[j] = exp_approx(row[j] - top);
  v8 sum = {};
  for (int64_t j = 0; j < padded; j += 8) {
    v8 x;
    load(x, row + j);
    sum += x;
  }
  return 1.0f / lane_sum(sum);
}

// Per thread: a sample's [N, 3 hidden] block and the N x padded matrices of one head.
struct Scratch {
  std::vector<float> block, kt, scores, weights, transposed;
  Scratch(const Shape& s, bool backward)
      : block(s.N * 3 * s.hidden),
        kt(s.dh * s.padded, 0.0f),  // zero padding columns: they only make scores past N, which nothing reads
        scores(s.N * s.padded + kRows * s.padded),
        weights(backward ? s.N * s.padded : 0),
        transposed(backward ? s.N * s.padded : 0) {}
};

// Forward of R query rows from row i: scores against kt (the keys transposed, [dh, padded]), their softmax, and the
// weighted sum of the value rows. With dropout or saving, the weights are normalised (and dropped) before the sum.
// (Tiles are templates, not lambdas: a lambda is compiled on its own, without the AVX2 target of its caller.)
template <int64_t R>
inline __attribute__((always_inline)) void forward_tile(const float* base, float* out_base, int64_t i, const Shape& s, const float* keep,
                                                        float* probs, Scratch& w) {
  const int64_t N = s.N, stride = 3 * s.hidden;
  float* scores = w.scores.data();
  const float* q[R];
  float* o[R];
  float factor[R];
  for (int64_t r = 0; r < R; ++r) {
    q[r] = base + (i + r) * stride;
    o[r] = out_base + (i + r) * s.hidden;
  }
  product_rows<R>(q, w.kt.data(), s.dh, s.padded, s.scale, scores);
  for (int64_t r = 0; r < R; ++r) {
    float* row = scores + r * s.padded;
    factor[r] = softmax_row(row, N, s.padded);
    if (probs == nullptr && keep == nullptr) continue;
    const float inv = factor[r];
    factor[r] = 1.0f;
    for (int64_t j = 0; j < N; ++j) row[j] *= inv;
    if (probs != nullptr) std::memcpy(probs + (i + r) * N, row, sizeof(float) * N);
    if (keep != nullptr)
      for (int64_t j = 0; j < N; ++j) row[j] *= keep[(i + r) * N + j];
  }
  combine_rows<R>(scores, s.padded, factor, base + 2 * s.hidden, stride, N, s.dh, o);
}

inline __attribute__((always_inline)) void head_forward(const float* base, float* out_base, const Shape& s, const float* keep, float* probs,
                                                        Scratch& w) {
  transpose(base + s.hidden, 3 * s.hidden, s.N, s.dh, w.kt.data(), s.padded);
  int64_t i = 0;
  for (; i + kRows <= s.N; i += kRows) forward_tile<kRows>(base, out_base, i, s, keep, probs, w);
  for (; i < s.N; ++i) forward_tile<1>(base, out_base, i, s, keep, probs, w);
}

// Backward of R rows from row i, with P the saved softmax and D the keep scale (1 without dropout): dW = dO V^T
// (vt: the values transposed), then per row dS = P (dW D - rowsum(dW D P)) and the weights used, W = P D.
template <int64_t R>
inline __attribute__((always_inline)) void backward_tile(const float* grad_base, int64_t i, const Shape& s, const float* keep,
                                                         const float* probs, Scratch& w) {
  const int64_t N = s.N, P = s.padded;
  float* ds = w.scores.data();    // [N, padded]
  float* dw_rows = ds + N * P;    // [kRows, padded]
  const float* g[R];
  for (int64_t r = 0; r < R; ++r) g[r] = grad_base + (i + r) * s.hidden;
  product_rows<R>(g, w.kt.data(), s.dh, P, 1.0f, dw_rows);
  for (int64_t r = 0; r < R; ++r) {
    const float* pr = probs + (i + r) * N;
    const float* kr = keep != nullptr ? keep + (i + r) * N : nullptr;
    float* dw = dw_rows + r * P;
    float* dsr = ds + (i + r) * P;
    float* wr = w.weights.data() + (i + r) * P;
    if (kr != nullptr) {
      for (int64_t j = 0; j < N; ++j) {
        dw[j] *= kr[j];
        wr[j] = pr[j] * kr[j];
      }
    } else {
      std::memcpy(wr, pr, sizeof(float) * N);
    }
    const float rowsum = dot(dw, pr, N);
    for (int64_t j = 0; j < N; ++j) dsr[j] = pr[j] * (dw[j] - rowsum);
  }
}

// One head backward: dQ = scale dS K, dK = scale dS^T Q, dV = W^T dO.
inline __attribute__((always_inline)) void head_backward(const float* base, const float* grad_base, float* dbase, const Shape& s,
                                                         const float* keep, const float* probs, Scratch& w) {
  const int64_t N = s.N, P = s.padded, stride = 3 * s.hidden;
  transpose(base + 2 * s.hidden, stride, N, s.dh, w.kt.data(), P);
  int64_t i = 0;
  for (; i + kRows <= N; i += kRows) backward_tile<kRows>(grad_base, i, s, keep, probs, w);
  for (; i < N; ++i) backward_tile<1>(grad_base, i, s, keep, probs, w);
  const float* ds = w.scores.data();
  combine_all(ds, P, s.scale, base + s.hidden, stride, N, s.dh, dbase, stride);
  transpose(ds, P, N, N, w.transposed.data(), P);
  combine_all(w.transposed.data(), P, s.scale, base, stride, N, s.dh, dbase + s.hidden, stride);
  transpose(w.weights.data(), P, N, N, w.transposed.data(), P);
  combine_all(w.transposed.data(), P, 1.0f, grad_base, s.hidden, N, s.dh, dbase + 2 * s.hidden, stride);
}

// One sample: its [N, 3 hidden] block is copied first (one sequential read, which the hardware prefetches; the
// heads' strided rows are then read from L2), then every head in turn.
inline __attribute__((always_inline)) void samples_body(const Buffers& a, const Shape& s, bool backward, int64_t begin, int64_t end) {
  Scratch w(s, backward);
  const int64_t N = s.N, stride = 3 * s.hidden;
  for (int64_t b = begin; b < end; ++b) {
    std::memcpy(w.block.data(), a.qkv + b * N * stride, sizeof(float) * N * stride);
    for (int64_t h = 0; h < s.heads; ++h) {
      const float* base = w.block.data() + h * s.dh;  // q of position 0; its k at + hidden, its v at + 2 hidden
      const int64_t matrix = (b * s.heads + h) * N * N;
      const float* keep = a.keep_scale != nullptr ? a.keep_scale + matrix : nullptr;
      if (backward) {
        head_backward(base, a.grad + b * N * s.hidden + h * s.dh, a.out + b * N * stride + h * s.dh, s, keep, a.probs + matrix, w);
      } else {
        head_forward(base, a.out + b * N * s.hidden + h * s.dh, s, keep, a.probs != nullptr ? a.probs + matrix : nullptr, w);
      }
    }
  }
}

LCMD_TARGET_AVX2 void samples_avx2(const Buffers& a, const Shape& s, bool backward, int64_t begin, int64_t end) {
  samples_body(a, s, backward, begin, end);
}
void samples_baseline(const Buffers& a, const Shape& s, bool backward, int64_t begin, int64_t end) { samples_body(a, s, backward, begin, end); }

Shape shape_of(const at::Tensor& qkv, int64_t heads) {
  LCMD_CHECK(qkv.dim() == 3 && heads >= 1 && qkv.size(2) % (3 * heads) == 0 && qkv.device().is_cpu() && qkv.scalar_type() == at::kFloat,
             "E_NATIVE", "the fused attention takes a float32 CPU [B, N, 3 * hidden] projection with hidden divisible by the heads");
  const int64_t N = qkv.size(1), hidden = qkv.size(2) / 3, dh = hidden / heads;
  return {N, heads, dh, hidden, (N + 7) / 8 * 8, static_cast<float>(1.0 / std::sqrt(static_cast<double>(dh)))};
}

void check_matrices(const at::Tensor& t, const at::Tensor& qkv, int64_t heads, const char* what) {
  LCMD_CHECK(t.sizes() == at::IntArrayRef({qkv.size(0), heads, qkv.size(1), qkv.size(1)}) && t.scalar_type() == at::kFloat && t.is_contiguous(),
             "E_NATIVE", std::string("the fused attention's ") + what + " must be [B, heads, N, N] float32 contiguous");
}

void run(const Buffers& a, const Shape& s, bool backward, int64_t B) {
  // a sample is about 4 N^2 hidden flops each way: one per chunk is plenty of work to hand a thread
  at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
    cpu_uses_avx2() ? samples_avx2(a, s, backward, begin, end) : samples_baseline(a, s, backward, begin, end);
  });
}

struct AttentionFunction : torch::autograd::Function<AttentionFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& qkv, int64_t heads, double dropout) {
    at::Tensor keep;
    if (dropout > 0) {
      // libtorch's dropout: bernoulli(1 - p) on the weights' shape, then divided by 1 - p
      keep = at::empty({qkv.size(0), heads, qkv.size(1), qkv.size(1)}, qkv.options()).bernoulli_(1.0 - dropout).div_(1.0 - dropout);
    }
    at::Tensor probs;
    auto out = attention_forward(qkv, heads, keep, &probs);
    ctx->save_for_backward({qkv, probs, keep.defined() ? keep : torch::empty({0}, qkv.options())});
    ctx->saved_data["heads"] = heads;
    return out;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto keep = saved[2].numel() > 0 ? saved[2] : at::Tensor();
    return {attention_backward(grads[0], saved[0], saved[1], keep, ctx->saved_data["heads"].toInt()), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

bool attention_is_fused(const at::Tensor& qkv) { return qkv.device().is_cpu() && qkv.scalar_type() == at::kFloat; }

at::Tensor attention(const at::Tensor& qkv, int64_t heads, double dropout) {
  const bool wants_grad = at::GradMode::is_enabled() && qkv.requires_grad();
  if (!wants_grad && dropout == 0.0) return attention_forward(qkv, heads);
  return AttentionFunction::apply(qkv, heads, dropout);
}

at::Tensor attention_forward(const at::Tensor& qkv, int64_t heads, const at::Tensor& keep_scale, at::Tensor* probs) {
  const auto s = shape_of(qkv, heads);
  auto in = qkv.contiguous();
  const int64_t B = in.size(0);
  if (keep_scale.defined()) check_matrices(keep_scale, in, heads, "keep scale");
  if (probs != nullptr) *probs = torch::empty({B, heads, s.N, s.N}, in.options());
  auto out = torch::empty({B, s.N, s.hidden}, in.options());
  const Buffers a{in.data_ptr<float>(), keep_scale.defined() ? keep_scale.data_ptr<float>() : nullptr,
                  probs != nullptr ? probs->data_ptr<float>() : nullptr, nullptr, out.data_ptr<float>()};
  run(a, s, false, B);
  return out;
}

at::Tensor attention_backward(const at::Tensor& grad, const at::Tensor& qkv, const at::Tensor& probs, const at::Tensor& keep_scale,
                              int64_t heads) {
  const auto s = shape_of(qkv, heads);
  auto in = qkv.contiguous();
  auto g = grad.contiguous();
  const int64_t B = in.size(0);
  LCMD_CHECK(g.sizes() == at::IntArrayRef({B, s.N, s.hidden}) && g.scalar_type() == at::kFloat, "E_NATIVE",
             "the fused attention's gradient must be [B, N, hidden] float32");
  check_matrices(probs, in, heads, "saved softmax");
  if (keep_scale.defined()) check_matrices(keep_scale, in, heads, "keep scale");
  auto dqkv = torch::empty_like(in);
  const Buffers a{in.data_ptr<float>(), keep_scale.defined() ? keep_scale.data_ptr<float>() : nullptr, const_cast<float*>(probs.data_ptr<float>()),
                  g.data_ptr<float>(), dqkv.data_ptr<float>()};
  run(a, s, true, B);
  return dqkv;
}

}  // namespace lcmd::fused
