// Per-element math of the fused optimizer step (core/fused/adamw_ema.h), shared by the CPU loop and the CUDA kernel:
// AdamW with decoupled weight decay, then the two EMAs of the updated weight, from one read of every state value.
#pragma once
#include <cmath>

#include "core/base/host_device.h"

namespace lcmd::fused {

// The step's scalars, computed once on the host (float32, as the per-element arithmetic runs in float32).
struct AdamWEmaScalars {
  float grad_scale;     // the clip coefficient (1 when the norm is under the limit)
  float beta1, beta2;   // Adam's moment decays
  float step_size;      // lr / (1 - beta1^n)
  float inv_sqrt_bias2; // 1 / sqrt(1 - beta2^n)
  float eps;
  float decay_factor;   // 1 - lr * weight_decay, for the tensors that decay
  float ema_decay;      // the sampling EMA's mu_n
  float teacher_decay;  // the teacher EMA's mu_n (unused without a teacher)
};

// p, m and v in place; g is the raw gradient. The order of operations is the unfused AdamW's
// (native/core/train/adamw.cc): decay, moments, update.
LCMD_HOST_DEVICE void adamw_element(float& p, float g, float& m, float& v, bool decays, const AdamWEmaScalars& s) {
  g *= s.grad_scale;
  if (decays) p *= s.decay_factor;
  m = s.beta1 * m + (1.0f - s.beta1) * g;
  v = s.beta2 * v + (1.0f - s.beta2) * g * g;
  p -= s.step_size * m / (sqrtf(v) * s.inv_sqrt_bias2 + s.eps);
}

// One EMA of the updated weight p: e <- mu e + (1 - mu) p (native/core/train/ema.cc).
LCMD_HOST_DEVICE void ema_element(float& e, float p, float mu) { e = mu * e + (1.0f - mu) * p; }

}  // namespace lcmd::fused
