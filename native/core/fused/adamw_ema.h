// The optimizer step in one pass over memory: AdamW (decoupled weight decay, bias correction, the clip coefficient
// applied to the gradient) and the updated weight folded into the sampling EMA and the CM teacher's EMA. Unfused, the
// same step is about a dozen multi-tensor passes (native/core/train/adamw.cc, ema.cc), each reading and writing every
// parameter. Float32 contiguous tensors on the CPU or on CUDA; AdamW falls back to the unfused passes otherwise.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "core/fused/adamw_ema_math.h"

namespace lcmd::fused {

// One trainable tensor and its optimizer state; teacher is undefined when the run has no teacher EMA.
struct OptimizerSlot {
  at::Tensor param, grad, exp_avg, exp_avg_sq, ema, teacher;
  bool decays = false;
};

// Whether adamw_ema_step takes these slots: every tensor float32, contiguous, of its parameter's shape, on one CPU or
// CUDA device, and either every slot has a teacher or none has.
bool adamw_ema_is_fused(const std::vector<OptimizerSlot>& slots);

// Updates param, exp_avg, exp_avg_sq, ema and teacher of every slot in place (grad is read only).
void adamw_ema_step(const std::vector<OptimizerSlot>& slots, const AdamWEmaScalars& scalars);

#ifdef LCMD_WITH_CUDA
void adamw_ema_step_cuda(const std::vector<OptimizerSlot>& slots, const AdamWEmaScalars& scalars);
#endif

}  // namespace lcmd::fused
