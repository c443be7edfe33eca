// CUDA twin of the fused loss head in native/core/fused/token_loss.cc: the same per-element math
// (native/core/fused/token_loss_math.h), one block per row of K logits, the row's max, sums and dot products reduced
// with warp shuffles; float32 throughout.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/torch.h>

#include "cuda/warp_reduce.cuh"

#include "core/fused/token_loss.h"
#include "core/fused/token_loss_math.h"

namespace lcmd::fused {

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

// The block's sum, returned to every thread. `scratch` holds kWarps floats.
__device__ float block_sum(float v, float* scratch) {
  v = warp_sum(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x / 32;
  __syncthreads();  // scratch may still be read by a previous reduction
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < kWarps ? scratch[lane] : 0.0f;
  return warp_sum(v);
}

// The block's maximum and the first index holding it (argmax's rule), returned to every thread.
__device__ void block_max_arg(float& v, int64_t& arg, float* scratch_v, int64_t* scratch_i) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, v, offset);
    const int64_t oi = __shfl_xor_sync(0xffffffffu, arg, offset);
    if (ov > v || (ov == v && oi < arg)) v = ov, arg = oi;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x / 32;
  __syncthreads();
  if (lane == 0) scratch_v[warp] = v, scratch_i[warp] = arg;
  __syncthreads();
  v = scratch_v[0];
  arg = scratch_i[0];
  for (int w = 1; w < kWarps; ++w)
    if (scratch_v[w] > v || (scratch_v[w] == v && scratch_i[w] < arg)) v = scratch_v[w], arg = scratch_i[w];
}

__global__ void forward_kernel(const float* __restrict__ x, const int64_t* __restrict__ targets, const float* __restrict__ log_q,
                               float* __restrict__ ce, float* __restrict__ kl, float* __restrict__ probs, float* __restrict__ correct,
                               float* __restrict__ lse_out, int64_t K, bool teacher_student) {
  __shared__ float scratch[kWarps];
  __shared__ int64_t scratch_i[kWarps];
  const int64_t row = blockIdx.x;
  const float* xr = x + row * K;
  float m = -INFINITY;
  int64_t arg = K;
  for (int64_t k = threadIdx.x; k < K; k += kThreads)
    if (xr[k] > m) m = xr[k], arg = k;
  block_max_arg(m, arg, scratch, scratch_i);
  float s = 0.0f;
  for (int64_t k = threadIdx.x; k < K; k += kThreads) s += exp_approx(xr[k] - m);
  const float lse = m + logf(block_sum(s, scratch));
  float* pr = probs + row * K;
  for (int64_t k = threadIdx.x; k < K; k += kThreads) pr[k] = softmax_element(xr[k], lse);
  float kl_row = 0.0f;
  if (log_q != nullptr) {
    const float* qr = log_q + row * K;
    float acc = 0.0f;
    for (int64_t k = threadIdx.x; k < K; k += kThreads) acc += kl_term(xr[k], lse, qr[k], teacher_student);
    kl_row = block_sum(acc, scratch);
  }
  if (threadIdx.x == 0) {
    const int64_t t = targets[row];
    ce[row] = lse - xr[t];
    correct[row] = arg == t ? 1.0f : 0.0f;
    lse_out[row] = lse;
    if (kl != nullptr) kl[row] = kl_row;
  }
}

__global__ void backward_kernel(const float* __restrict__ x, const int64_t* __restrict__ targets, const float* __restrict__ log_q,
                                const float* __restrict__ lse, const float* __restrict__ kl, const float* __restrict__ g_ce,
                                const float* __restrict__ g_kl, const float* __restrict__ g_p, float* __restrict__ dx, int64_t K,
                                bool teacher_student) {
  __shared__ float scratch[kWarps];
  const int64_t row = blockIdx.x;
  const float* xr = x + row * K;
  const float* qr = log_q != nullptr ? log_q + row * K : nullptr;
  const float* gr = g_p != nullptr ? g_p + row * K : nullptr;
  const float l = lse[row];
  TokenLossRowGrads r{g_ce != nullptr ? g_ce[row] : 0.0f, g_kl != nullptr ? g_kl[row] : 0.0f, 0.0f, 1.0f, kl != nullptr ? kl[row] : 0.0f};
  if (gr != nullptr) {
    float dot = 0.0f;
    for (int64_t k = threadIdx.x; k < K; k += kThreads) dot += softmax_element(xr[k], l) * gr[k];
    r.dot = block_sum(dot, scratch);
  }
  if (qr != nullptr && teacher_student) {
    float q_sum = 0.0f;
    for (int64_t k = threadIdx.x; k < K; k += kThreads) q_sum += exp_approx(qr[k]);
    r.q_sum = block_sum(q_sum, scratch);
  }
  const int64_t t = targets[row];
  float* dr = dx + row * K;
  for (int64_t k = threadIdx.x; k < K; k += kThreads)
    dr[k] = token_loss_grad(xr[k], l, k == t, qr != nullptr ? qr[k] : 0.0f, gr != nullptr ? gr[k] : 0.0f, r, qr != nullptr, teacher_student);
}

const float* ptr_or_null(const at::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }

}  // namespace

TokenLossForward token_loss_forward_cuda(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& log_q, KlDirection direction) {
  c10::cuda::CUDAGuard guard(logits.device());
  const int64_t R = logits.size(0), K = logits.size(1);
  auto f = empty_token_loss_forward(logits, log_q.defined());
  if (R == 0) return f;
  forward_kernel<<<static_cast<unsigned>(R), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
      logits.data_ptr<float>(), targets.data_ptr<int64_t>(), ptr_or_null(log_q), f.ce.data_ptr<float>(),
      f.kl.defined() ? f.kl.data_ptr<float>() : nullptr, f.probs.data_ptr<float>(), f.correct.data_ptr<float>(), f.lse.data_ptr<float>(), K,
      direction == KlDirection::kTeacherStudent);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return f;
}

at::Tensor token_loss_backward_cuda(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& log_q, const TokenLossForward& saved,
                                    const at::Tensor& grad_ce, const at::Tensor& grad_kl, const at::Tensor& grad_probs, KlDirection direction) {
  c10::cuda::CUDAGuard guard(logits.device());
  const int64_t R = logits.size(0), K = logits.size(1);
  auto dx = torch::empty_like(logits);
  if (R == 0) return dx;
  backward_kernel<<<static_cast<unsigned>(R), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
      logits.data_ptr<float>(), targets.data_ptr<int64_t>(), ptr_or_null(log_q), saved.lse.data_ptr<float>(), ptr_or_null(saved.kl),
      ptr_or_null(grad_ce), ptr_or_null(grad_kl), ptr_or_null(grad_probs), dx.data_ptr<float>(), K, direction == KlDirection::kTeacherStudent);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return dx;
}

}  // namespace lcmd::fused
