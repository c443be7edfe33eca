// CUDA twin of the fused AdaLN in native/core/fused/adaptive_norm.cc: the same per-element math
// (native/core/fused/adaptive_norm_math.h), one warp per row of C values with shuffle reductions, statistics in
// float32 whatever the storage type (float32, bf16, fp16).
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/torch.h>

#include "cuda/warp_reduce.cuh"

#include "core/fused/adaptive_norm.h"
#include "core/fused/adaptive_norm_math.h"

namespace lcmd::fused {

namespace {

constexpr int kThreads = 256;
constexpr int kRowsPerBlock = kThreads / 32;

// One warp per row: x = h + r (rounded to the storage type, as the unfused add would), its mean and variance in two
// passes, then y. Each lane reads back only the values it wrote.
template <typename scalar_t>
__global__ void forward_kernel(const scalar_t* __restrict__ h, const scalar_t* __restrict__ r, const scalar_t* __restrict__ scale,
                               const scalar_t* __restrict__ shift, scalar_t* __restrict__ x, scalar_t* __restrict__ y, float* __restrict__ mean,
                               float* __restrict__ rstd, int64_t rows, int64_t positions, int64_t C, float eps) {
  const int lane = threadIdx.x & 31;
  const int64_t row = int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  if (row >= rows) return;  // the whole warp leaves together
  const scalar_t* src = h + row * C;
  float sum = 0.0f;
  if (r != nullptr) {
    scalar_t* xr = x + row * C;
    const scalar_t* rr = r + row * C;
    for (int64_t c = lane; c < C; c += 32) {
      const scalar_t v = static_cast<scalar_t>(static_cast<float>(src[c]) + static_cast<float>(rr[c]));
      xr[c] = v;
      sum += static_cast<float>(v);
    }
    src = xr;
  } else {
    for (int64_t c = lane; c < C; c += 32) sum += static_cast<float>(src[c]);
  }
  const float m = warp_sum(sum) / static_cast<float>(C);
  float sq = 0.0f;
  for (int64_t c = lane; c < C; c += 32) {
    const float d = static_cast<float>(src[c]) - m;
    sq += d * d;
  }
  const float s = inverse_std(warp_sum(sq) / static_cast<float>(C), eps);
  const int64_t b = row / positions;
  scalar_t* yr = y + row * C;
  for (int64_t c = lane; c < C; c += 32)
    yr[c] = static_cast<scalar_t>(modulated_norm(static_cast<float>(src[c]), m, s, static_cast<float>(scale[b * C + c]),
                                                 static_cast<float>(shift[b * C + c])));
  if (lane == 0) {
    mean[row] = m;
    rstd[row] = s;
  }
}

// One warp per row: the gradient at x, plus x's own gradient when the residual stream has one.
template <typename scalar_t>
__global__ void input_grad_kernel(const scalar_t* __restrict__ gy, const scalar_t* __restrict__ gx, const scalar_t* __restrict__ x,
                                  const float* __restrict__ mean, const float* __restrict__ rstd, const scalar_t* __restrict__ scale,
                                  scalar_t* __restrict__ dx, int64_t rows, int64_t positions, int64_t C) {
  const int lane = threadIdx.x & 31;
  const int64_t row = int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  if (row >= rows) return;
  const float m = mean[row], s = rstd[row];
  const scalar_t* a = scale + (row / positions) * C;
  const scalar_t* gr = gy + row * C;
  const scalar_t* xr = x + row * C;
  float sg = 0.0f, sgx = 0.0f;
  for (int64_t c = lane; c < C; c += 32) {
    const float g = normalized_grad(static_cast<float>(gr[c]), static_cast<float>(a[c]));
    sg += g;
    sgx += g * normalized(static_cast<float>(xr[c]), m, s);
  }
  const float mean_g = warp_sum(sg) / static_cast<float>(C), mean_gx = warp_sum(sgx) / static_cast<float>(C);
  for (int64_t c = lane; c < C; c += 32) {
    const float g = normalized_grad(static_cast<float>(gr[c]), static_cast<float>(a[c]));
    float v = norm_input_grad(g, normalized(static_cast<float>(xr[c]), m, s), mean_g, mean_gx, s);
    if (gx != nullptr) v += static_cast<float>(gx[row * C + c]);
    dx[row * C + c] = static_cast<scalar_t>(v);
  }
}

// One thread per (example, channel), summing over the example's positions (coalesced across channels).
template <typename scalar_t>
__global__ void modulation_grad_kernel(const scalar_t* __restrict__ gy, const scalar_t* __restrict__ x, const float* __restrict__ mean,
                                       const float* __restrict__ rstd, float* __restrict__ dscale, float* __restrict__ dshift, int64_t batch,
                                       int64_t positions, int64_t C) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= batch * C) return;
  const int64_t b = i / C, c = i % C;
  float da = 0.0f, ds = 0.0f;
  for (int64_t n = 0; n < positions; ++n) {
    const int64_t row = b * positions + n;
    const float g = static_cast<float>(gy[row * C + c]);
    ds += g;
    da += g * normalized(static_cast<float>(x[row * C + c]), mean[row], rstd[row]);
  }
  dscale[i] = da;
  dshift[i] = ds;
}

unsigned blocks(int64_t units, int64_t per_block) { return static_cast<unsigned>((units + per_block - 1) / per_block); }

}  // namespace

AdaptiveNormForward adaptive_norm_forward_cuda(const at::Tensor& h, const at::Tensor& r, const at::Tensor& scale, const at::Tensor& shift,
                                               double eps) {
  c10::cuda::CUDAGuard guard(h.device());
  const int64_t B = h.size(0), N = h.size(1), C = h.size(2), rows = B * N;
  auto hc = h.contiguous(), sc = scale.contiguous(), shc = shift.contiguous();
  auto rc = r.defined() ? r.contiguous() : at::Tensor();
  AdaptiveNormForward out;
  out.x = r.defined() ? torch::empty_like(hc) : hc;
  out.y = torch::empty_like(hc);
  auto stats = hc.options().dtype(at::kFloat);
  out.mean = torch::empty({rows}, stats);
  out.rstd = torch::empty({rows}, stats);
  if (rows == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, hc.scalar_type(), "lcmd_adaptive_norm_forward", [&] {
    forward_kernel<scalar_t><<<blocks(rows, kRowsPerBlock), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        hc.data_ptr<scalar_t>(), r.defined() ? rc.data_ptr<scalar_t>() : nullptr, sc.data_ptr<scalar_t>(), shc.data_ptr<scalar_t>(),
        r.defined() ? out.x.data_ptr<scalar_t>() : nullptr, out.y.data_ptr<scalar_t>(), out.mean.data_ptr<float>(),
        out.rstd.data_ptr<float>(), rows, N, C, static_cast<float>(eps));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

AdaptiveNormGrads adaptive_norm_backward_cuda(const at::Tensor& grad_y, const at::Tensor& grad_x, const AdaptiveNormForward& saved,
                                              const at::Tensor& scale) {
  const auto& x = saved.x;
  c10::cuda::CUDAGuard guard(x.device());
  const int64_t B = x.size(0), N = x.size(1), C = x.size(2), rows = B * N;
  auto xc = x.contiguous(), gyc = grad_y.to(x.scalar_type()).contiguous(), sc = scale.contiguous();
  auto gxc = grad_x.defined() ? grad_x.to(x.scalar_type()).contiguous() : at::Tensor();
  AdaptiveNormGrads out;
  out.input = torch::empty_like(xc);
  auto dscale = torch::empty({B, C}, xc.options().dtype(at::kFloat));
  auto dshift = torch::empty({B, C}, xc.options().dtype(at::kFloat));
  if (rows > 0) {
    auto stream = at::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, xc.scalar_type(), "lcmd_adaptive_norm_backward", [&] {
      input_grad_kernel<scalar_t><<<blocks(rows, kRowsPerBlock), kThreads, 0, stream>>>(
          gyc.data_ptr<scalar_t>(), grad_x.defined() ? gxc.data_ptr<scalar_t>() : nullptr, xc.data_ptr<scalar_t>(),
          saved.mean.data_ptr<float>(), saved.rstd.data_ptr<float>(), sc.data_ptr<scalar_t>(), out.input.data_ptr<scalar_t>(), rows, N, C);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      modulation_grad_kernel<scalar_t><<<blocks(B * C, kThreads), kThreads, 0, stream>>>(
          gyc.data_ptr<scalar_t>(), xc.data_ptr<scalar_t>(), saved.mean.data_ptr<float>(), saved.rstd.data_ptr<float>(),
          dscale.data_ptr<float>(), dshift.data_ptr<float>(), B, N, C);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  } else {
    dscale.zero_();
    dshift.zero_();
  }
  out.scale = dscale.to(xc.scalar_type());
  out.shift = dshift.to(xc.scalar_type());
  return out;
}

}  // namespace lcmd::fused
