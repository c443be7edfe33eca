#include "core/fused/gelu.h"

#include <ATen/Parallel.h>

#include "core/fused/cpu_features.h"
#include "core/fused/gelu_math.h"

namespace lcmd::fused {

namespace {

// The loop bodies, inlined into an AVX2 + FMA build and a baseline build (core/fused/cpu_features.h).
inline __attribute__((always_inline)) void forward_body(const float* __restrict x, float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = gelu_value(x[i]);
}

inline __attribute__((always_inline)) void backward_body(const float* __restrict g, const float* __restrict x, float* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = g[i] * gelu_slope(x[i]);
}

LCMD_TARGET_AVX2 void forward_avx2(const float* x, float* y, int64_t n) { forward_body(x, y, n); }
void forward_baseline(const float* x, float* y, int64_t n) { forward_body(x, y, n); }
LCMD_TARGET_AVX2 void backward_avx2(const float* g, const float* x, float* out, int64_t n) { backward_body(g, x, out, n); }
void backward_baseline(const float* g, const float* x, float* out, int64_t n) { backward_body(g, x, out, n); }

void forward_loop(const float* x, float* y, int64_t n) { cpu_uses_avx2() ? forward_avx2(x, y, n) : forward_baseline(x, y, n); }
void backward_loop(const float* g, const float* x, float* out, int64_t n) {
  cpu_uses_avx2() ? backward_avx2(g, x, out, n) : backward_baseline(g, x, out, n);
}

// Chunks big enough that a thread's share outweighs waking it (about 10 us of work each).
constexpr int64_t kGrain = 32768;

bool cpu_fused(const at::Tensor& x) { return x.device().is_cpu() && x.scalar_type() == at::kFloat; }

struct GeluFunction : torch::autograd::Function<GeluFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x) {
    ctx->save_for_backward({x});
    return gelu_forward(x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    return {fused::gelu_backward(grads[0], ctx->get_saved_variables()[0])};
  }
};

}  // namespace

bool gelu_is_fused(const at::Tensor& x) {
#ifdef LCMD_WITH_CUDA
  if (x.is_cuda()) return x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16 || x.scalar_type() == at::kHalf;
#endif
  return cpu_fused(x);
}

at::Tensor gelu_forward(const at::Tensor& x) {
  if (!gelu_is_fused(x)) return torch::gelu(x);
#ifdef LCMD_WITH_CUDA
  if (x.is_cuda()) return gelu_forward_cuda(x);
#endif
  auto in = x.contiguous();
  auto out = torch::empty_like(in);
  const float* src = in.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, in.numel(), kGrain, [&](int64_t begin, int64_t end) { forward_loop(src + begin, dst + begin, end - begin); });
  return out;
}

at::Tensor gelu_backward(const at::Tensor& grad, const at::Tensor& x) {
  if (!gelu_is_fused(x) || grad.scalar_type() != x.scalar_type() || grad.sizes() != x.sizes())
    return torch::gelu_backward(grad, x);
#ifdef LCMD_WITH_CUDA
  if (x.is_cuda()) return gelu_backward_cuda(grad, x);
#endif
  auto in = x.contiguous(), g = grad.contiguous();
  auto out = torch::empty_like(in);
  const float* src = in.data_ptr<float>();
  const float* gp = g.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, in.numel(), kGrain, [&](int64_t begin, int64_t end) { backward_loop(gp + begin, src + begin, dst + begin, end - begin); });
  return out;
}

at::Tensor gelu(const at::Tensor& x) {
  if (!gelu_is_fused(x)) return torch::gelu(x);
  return GeluFunction::apply(x);
}

}  // namespace lcmd::fused
