// CUDA twin of the fused optimizer step in native/core/fused/adamw_ema.cc: the same per-element math
// (native/core/fused/adamw_ema_math.h). Multi-tensor: one launch updates up to kTensorsPerLaunch tensors, their
// pointers passed by value in the kernel's arguments (no host-to-device copy, so nothing waits and the launch can be
// captured in a CUDA graph); blockIdx.y picks the tensor, and a grid-stride loop covers its elements.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/torch.h>

#include <algorithm>

#include "core/fused/adamw_ema.h"
#include "core/fused/adamw_ema_math.h"

namespace lcmd::fused {

namespace {

// 24 tensors of 6 pointers, a size and a flag: about 1.4 KB, well under the 4 KB of kernel arguments.
constexpr int kTensorsPerLaunch = 24;
constexpr int kThreads = 256;

struct SlotTable {
  float* param[kTensorsPerLaunch];
  const float* grad[kTensorsPerLaunch];
  float* exp_avg[kTensorsPerLaunch];
  float* exp_avg_sq[kTensorsPerLaunch];
  float* ema[kTensorsPerLaunch];
  float* teacher[kTensorsPerLaunch];  // null without a teacher
  int64_t numel[kTensorsPerLaunch];
  bool decays[kTensorsPerLaunch];
};

__global__ void adamw_ema_kernel(SlotTable table, AdamWEmaScalars s) {
  const int t = blockIdx.y;
  const int64_t n = table.numel[t];
  float* __restrict__ p = table.param[t];
  const float* __restrict__ g = table.grad[t];
  float* __restrict__ m = table.exp_avg[t];
  float* __restrict__ v = table.exp_avg_sq[t];
  float* __restrict__ ema = table.ema[t];
  float* __restrict__ teacher = table.teacher[t];
  const bool decays = table.decays[t];
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float w = p[i], mi = m[i], vi = v[i];
    adamw_element(w, g[i], mi, vi, decays, s);
    p[i] = w;
    m[i] = mi;
    v[i] = vi;
    float e = ema[i];
    ema_element(e, w, s.ema_decay);
    ema[i] = e;
    if (teacher != nullptr) {
      float te = teacher[i];
      ema_element(te, w, s.teacher_decay);
      teacher[i] = te;
    }
  }
}

}  // namespace

void adamw_ema_step_cuda(const std::vector<OptimizerSlot>& slots, const AdamWEmaScalars& scalars) {
  if (slots.empty()) return;
  c10::cuda::CUDAGuard guard(slots.front().param.device());
  const int64_t cap = int64_t(at::cuda::getCurrentDeviceProperties()->multiProcessorCount) * 4;
  auto stream = at::cuda::getCurrentCUDAStream();
  for (size_t first = 0; first < slots.size(); first += kTensorsPerLaunch) {
    const size_t count = std::min<size_t>(kTensorsPerLaunch, slots.size() - first);
    SlotTable table{};
    int64_t largest = 0;
    for (size_t j = 0; j < count; ++j) {
      const auto& slot = slots[first + j];
      table.param[j] = slot.param.data_ptr<float>();
      table.grad[j] = slot.grad.data_ptr<float>();
      table.exp_avg[j] = slot.exp_avg.data_ptr<float>();
      table.exp_avg_sq[j] = slot.exp_avg_sq.data_ptr<float>();
      table.ema[j] = slot.ema.data_ptr<float>();
      table.teacher[j] = slot.teacher.defined() ? slot.teacher.data_ptr<float>() : nullptr;
      table.numel[j] = slot.param.numel();
      table.decays[j] = slot.decays;
      largest = std::max(largest, table.numel[j]);
    }
    if (largest == 0) continue;
    // enough blocks along x for the largest tensor, capped; the grid-stride loop covers the rest
    const auto blocks_x = static_cast<unsigned>(std::max<int64_t>(1, std::min((largest + kThreads - 1) / kThreads, cap)));
    adamw_ema_kernel<<<dim3(blocks_x, static_cast<unsigned>(count)), kThreads, 0, stream>>>(table, scalars);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

}  // namespace lcmd::fused
