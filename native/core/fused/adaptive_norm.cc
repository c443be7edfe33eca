#include "core/fused/adaptive_norm.h"

#include <ATen/Parallel.h>

#include "core/base/error.h"
#include "core/fused/adaptive_norm_math.h"
#include "core/fused/cpu_features.h"

namespace lcmd::fused {

namespace {

// Row sums are kept in kLanes partial sums, so that the loops vectorise without reassociating one float sum.
constexpr int64_t kLanes = 8;

inline __attribute__((always_inline)) float total(const float* part, float tail) {
  for (int64_t l = 0; l < kLanes; ++l) tail += part[l];
  return tail;
}

// Forward over rows [begin, end) of C values; r and x are null when there is no residual (then the input is h).
inline __attribute__((always_inline)) void forward_body(const float* __restrict h, const float* __restrict r, const float* scale,
                                                        const float* shift, float* __restrict x, float* __restrict y, float* mean,
                                                        float* rstd, int64_t begin, int64_t end, int64_t positions, int64_t C,
                                                        float eps) {
  for (int64_t row = begin; row < end; ++row) {
    const float* src = h + row * C;
    if (r) {
      float* xr = x + row * C;
      const float* rr = r + row * C;
      for (int64_t c = 0; c < C; ++c) xr[c] = src[c] + rr[c];
      src = xr;
    }
    float part[kLanes] = {}, tail = 0.0f;
    int64_t c = 0;
    for (; c + kLanes <= C; c += kLanes)
      for (int64_t l = 0; l < kLanes; ++l) part[l] += src[c + l];
    for (; c < C; ++c) tail += src[c];
    const float m = total(part, tail) / static_cast<float>(C);
    float sq[kLanes] = {}, sq_tail = 0.0f;
    for (c = 0; c + kLanes <= C; c += kLanes)
      for (int64_t l = 0; l < kLanes; ++l) {
        const float d = src[c + l] - m;
        sq[l] += d * d;
      }
    for (; c < C; ++c) sq_tail += (src[c] - m) * (src[c] - m);
    const float s = inverse_std(total(sq, sq_tail) / static_cast<float>(C), eps);
    const float* a = scale + (row / positions) * C;
    const float* b = shift + (row / positions) * C;
    float* yr = y + row * C;
    for (c = 0; c < C; ++c) yr[c] = modulated_norm(src[c], m, s, a[c], b[c]);
    mean[row] = m;
    rstd[row] = s;
  }
}

// Backward over the examples [begin, end): the gradient at x row by row, and the modulation's gradients summed over
// each example's positions (one example per thread at a time, so no two threads write one sum).
inline __attribute__((always_inline)) void backward_body(const float* __restrict gy, const float* __restrict gx, const float* __restrict x,
                                                         const float* mean, const float* rstd, const float* scale, float* __restrict dx,
                                                         float* __restrict dscale, float* __restrict dshift, int64_t begin, int64_t end,
                                                         int64_t positions, int64_t C) {
  for (int64_t b = begin; b < end; ++b) {
    const float* a = scale + b * C;
    float* da = dscale + b * C;
    float* ds = dshift + b * C;
    for (int64_t c = 0; c < C; ++c) da[c] = ds[c] = 0.0f;
    for (int64_t n = 0; n < positions; ++n) {
      const int64_t row = b * positions + n;
      const float m = mean[row], s = rstd[row];
      const float* gr = gy + row * C;
      const float* xr = x + row * C;
      float pg[kLanes] = {}, pgx[kLanes] = {}, tg = 0.0f, tgx = 0.0f;
      int64_t c = 0;
      for (; c + kLanes <= C; c += kLanes)
        for (int64_t l = 0; l < kLanes; ++l) {
          const float xhat = normalized(xr[c + l], m, s);
          const float g = normalized_grad(gr[c + l], a[c + l]);
          pg[l] += g;
          pgx[l] += g * xhat;
          da[c + l] += gr[c + l] * xhat;
          ds[c + l] += gr[c + l];
        }
      for (; c < C; ++c) {
        const float xhat = normalized(xr[c], m, s);
        const float g = normalized_grad(gr[c], a[c]);
        tg += g;
        tgx += g * xhat;
        da[c] += gr[c] * xhat;
        ds[c] += gr[c];
      }
      const float mean_g = total(pg, tg) / static_cast<float>(C), mean_gx = total(pgx, tgx) / static_cast<float>(C);
      float* out = dx + row * C;
      for (c = 0; c < C; ++c) out[c] = norm_input_grad(normalized_grad(gr[c], a[c]), normalized(xr[c], m, s), mean_g, mean_gx, s);
      if (gx) {
        const float* extra = gx + row * C;
        for (c = 0; c < C; ++c) out[c] += extra[c];
      }
    }
  }
}

LCMD_TARGET_AVX2 void forward_avx2(const float* h, const float* r, const float* scale, const float* shift, float* x, float* y, float* mean,
                                   float* rstd, int64_t begin, int64_t end, int64_t positions, int64_t C, float eps) {
  forward_body(h, r, scale, shift, x, y, mean, rstd, begin, end, positions, C, eps);
}
void forward_baseline(const float* h, const float* r, const float* scale, const float* shift, float* x, float* y, float* mean, float* rstd,
                      int64_t begin, int64_t end, int64_t positions, int64_t C, float eps) {
  forward_body(h, r, scale, shift, x, y, mean, rstd, begin, end, positions, C, eps);
}
LCMD_TARGET_AVX2 void backward_avx2(const float* gy, const float* gx, const float* x, const float* mean, const float* rstd, const float* scale,
                                    float* dx, float* dscale, float* dshift, int64_t begin, int64_t end, int64_t positions, int64_t C) {
  backward_body(gy, gx, x, mean, rstd, scale, dx, dscale, dshift, begin, end, positions, C);
}
void backward_baseline(const float* gy, const float* gx, const float* x, const float* mean, const float* rstd, const float* scale, float* dx,
                       float* dscale, float* dshift, int64_t begin, int64_t end, int64_t positions, int64_t C) {
  backward_body(gy, gx, x, mean, rstd, scale, dx, dscale, dshift, begin, end, positions, C);
}

// Work per parallel chunk of about 32k values, so that a thread's share outweighs waking it.
int64_t grain(int64_t values_per_unit) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, values_per_unit)); }

bool cpu_fused(const at::Tensor& h) { return h.device().is_cpu() && h.scalar_type() == at::kFloat; }

void check_shapes(const at::Tensor& h, const at::Tensor& r, const at::Tensor& scale, const at::Tensor& shift) {
  LCMD_CHECK(h.dim() == 3, "E_SHAPE", "adaptive norm: h must be [B, N, C]");
  LCMD_CHECK(!r.defined() || r.sizes() == h.sizes(), "E_SHAPE", "adaptive norm: the residual must have h's shape");
  const std::vector<int64_t> modulation{h.size(0), h.size(2)};
  LCMD_CHECK(scale.sizes() == modulation && shift.sizes() == modulation, "E_SHAPE", "adaptive norm: scale and shift must be [B, C]");
}

// The same function as plain libtorch ops, in the order the unfused module computed it.
at::Tensor composite(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& shift, double eps) {
  return torch::layer_norm(x, {x.size(-1)}, {}, {}, eps) * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1);
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

AdaptiveNormGrads backward_from(AutogradContext* ctx, const at::Tensor& grad_y, const at::Tensor& grad_x) {
  auto saved = ctx->get_saved_variables();
  AdaptiveNormForward forward{saved[0], {}, saved[1], saved[2]};
  return adaptive_norm_backward(grad_y.defined() ? grad_y : torch::zeros_like(forward.x), grad_x, forward, saved[3]);
}

struct AdaptiveNormFunction : torch::autograd::Function<AdaptiveNormFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& h, const at::Tensor& scale, const at::Tensor& shift, double eps) {
    auto out = adaptive_norm_forward(h, {}, scale, shift, eps);
    ctx->save_for_backward({h, out.mean, out.rstd, scale});
    return out.y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto g = backward_from(ctx, grads[0], {});
    return {g.input, g.scale, g.shift, at::Tensor()};
  }
};

struct ResidualAdaptiveNormFunction : torch::autograd::Function<ResidualAdaptiveNormFunction> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& h, const at::Tensor& r, const at::Tensor& scale, const at::Tensor& shift,
                               double eps) {
    auto out = adaptive_norm_forward(h, r, scale, shift, eps);
    ctx->save_for_backward({out.x, out.mean, out.rstd, scale});
    return {out.x, out.y};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto g = backward_from(ctx, grads[1], grads[0]);
    return {g.input, g.input, g.scale, g.shift, at::Tensor()};
  }
};

}  // namespace

bool adaptive_norm_is_fused(const at::Tensor& h) {
#ifdef LCMD_WITH_CUDA
  if (h.is_cuda()) return h.scalar_type() == at::kFloat || h.scalar_type() == at::kBFloat16 || h.scalar_type() == at::kHalf;
#endif
  return cpu_fused(h);
}

AdaptiveNormForward adaptive_norm_forward(const at::Tensor& h, const at::Tensor& r, const at::Tensor& scale, const at::Tensor& shift,
                                          double eps) {
  check_shapes(h, r, scale, shift);
  LCMD_CHECK(adaptive_norm_is_fused(h), "E_INTERNAL", "adaptive_norm_forward: no fused path for this tensor type");
#ifdef LCMD_WITH_CUDA
  if (h.is_cuda()) return adaptive_norm_forward_cuda(h, r, scale, shift, eps);
#endif
  const int64_t B = h.size(0), N = h.size(1), C = h.size(2);
  auto hc = h.contiguous(), sc = scale.contiguous(), shc = shift.contiguous();
  auto rc = r.defined() ? r.contiguous() : at::Tensor();
  AdaptiveNormForward out;
  out.x = r.defined() ? torch::empty_like(hc) : hc;
  out.y = torch::empty_like(hc);
  out.mean = torch::empty({B * N}, hc.options());
  out.rstd = torch::empty({B * N}, hc.options());
  const float* hp = hc.data_ptr<float>();
  const float* rp = r.defined() ? rc.data_ptr<float>() : nullptr;
  float* xp = r.defined() ? out.x.data_ptr<float>() : nullptr;
  const float *ap = sc.data_ptr<float>(), *bp = shc.data_ptr<float>();
  float *yp = out.y.data_ptr<float>(), *mp = out.mean.data_ptr<float>(), *sp = out.rstd.data_ptr<float>();
  const float e = static_cast<float>(eps);
  at::parallel_for(0, B * N, grain(C), [&](int64_t begin, int64_t end) {
    cpu_uses_avx2() ? forward_avx2(hp, rp, ap, bp, xp, yp, mp, sp, begin, end, N, C, e)
                    : forward_baseline(hp, rp, ap, bp, xp, yp, mp, sp, begin, end, N, C, e);
  });
  return out;
}

AdaptiveNormGrads adaptive_norm_backward(const at::Tensor& grad_y, const at::Tensor& grad_x, const AdaptiveNormForward& saved,
                                         const at::Tensor& scale) {
  const auto& x = saved.x;
  LCMD_CHECK(grad_y.sizes() == x.sizes() && (!grad_x.defined() || grad_x.sizes() == x.sizes()), "E_SHAPE",
             "adaptive_norm_backward: gradients must have x's shape");
#ifdef LCMD_WITH_CUDA
  if (x.is_cuda()) return adaptive_norm_backward_cuda(grad_y, grad_x, saved, scale);
#endif
  const int64_t B = x.size(0), N = x.size(1), C = x.size(2);
  auto xc = x.contiguous(), gyc = grad_y.to(x.scalar_type()).contiguous(), sc = scale.contiguous();
  auto gxc = grad_x.defined() ? grad_x.to(x.scalar_type()).contiguous() : at::Tensor();
  AdaptiveNormGrads out;
  out.input = torch::empty_like(xc);
  out.scale = torch::empty({B, C}, xc.options());
  out.shift = torch::empty({B, C}, xc.options());
  const float *gyp = gyc.data_ptr<float>(), *gxp = grad_x.defined() ? gxc.data_ptr<float>() : nullptr, *xp = xc.data_ptr<float>();
  const float *mp = saved.mean.data_ptr<float>(), *sp = saved.rstd.data_ptr<float>(), *ap = sc.data_ptr<float>();
  float *dxp = out.input.data_ptr<float>(), *dap = out.scale.data_ptr<float>(), *dbp = out.shift.data_ptr<float>();
  at::parallel_for(0, B, grain(N * C), [&](int64_t begin, int64_t end) {
    cpu_uses_avx2() ? backward_avx2(gyp, gxp, xp, mp, sp, ap, dxp, dap, dbp, begin, end, N, C)
                    : backward_baseline(gyp, gxp, xp, mp, sp, ap, dxp, dap, dbp, begin, end, N, C);
  });
  return out;
}

at::Tensor adaptive_norm(const at::Tensor& h, const at::Tensor& scale, const at::Tensor& shift, double eps) {
  if (!adaptive_norm_is_fused(h)) return composite(h, scale, shift, eps);
  // the modulation may come out of a bf16 autocast Linear while h is float32: computed in h's type, as the unfused
  // ops promote
  auto a = scale.to(h.scalar_type()), b = shift.to(h.scalar_type());
  if (!torch::GradMode::is_enabled()) return adaptive_norm_forward(h, {}, a, b, eps).y;
  return AdaptiveNormFunction::apply(h, a, b, eps);
}

std::pair<at::Tensor, at::Tensor> residual_adaptive_norm(const at::Tensor& h, const at::Tensor& r, const at::Tensor& scale,
                                                         const at::Tensor& shift, double eps) {
  const auto type = at::result_type(h, r);
  auto hh = h.to(type), rr = r.to(type);
  if (!adaptive_norm_is_fused(hh)) {
    auto x = hh + rr;
    return {x, composite(x, scale, shift, eps)};
  }
  auto a = scale.to(type), b = shift.to(type);
  if (!torch::GradMode::is_enabled()) {
    auto out = adaptive_norm_forward(hh, rr, a, b, eps);
    return {out.x, out.y};
  }
  auto outs = ResidualAdaptiveNormFunction::apply(hh, rr, a, b, eps);
  return {outs[0], outs[1]};
}

}  // namespace lcmd::fused
