// Per-element math of the fused loss head (core/fused/token_loss.h), shared by the CPU loops and the CUDA kernels.
// Each row of logits x (K classes) has its max m, its log-sum-exp lse and p_k = exp(x_k - lse); the reductions over
// the row are done by each device its own way, these functions are what happens to one element.
#pragma once
#include <cmath>

#include "core/base/host_device.h"
#include "core/fused/exp_math.h"

namespace lcmd::fused {

// p_k = softmax(x)_k from the row's log-sum-exp
LCMD_HOST_DEVICE float softmax_element(float x, float lse) { return exp_approx(x - lse); }

// One class's term of the row's KL divergence. teacher-student: KL(q || p) = sum_k q_k (log q_k - log p_k);
// student-teacher: KL(p || q) = sum_k p_k (log p_k - log q_k); log p_k = x_k - lse.
LCMD_HOST_DEVICE float kl_term(float x, float lse, float log_q, bool teacher_student) {
  const float log_p = x - lse;
  return teacher_student ? exp_approx(log_q) * (log_q - log_p) : exp_approx(log_p) * (log_p - log_q);
}

// The gradient at logit x_k of the row's losses, given the row's upstream gradients: g_ce for the cross-entropy
// lse - x_target, g_kl for the KL divergence, and g_p_k - dot for the probabilities (dot = sum_j p_j g_p_j; the
// softmax's Jacobian). q_sum = sum_j q_j (1 up to rounding) and kl = the row's KL value, for the two directions'
// exact derivatives: d KL(q || p) / dx_k = p_k q_sum - q_k; d KL(p || q) / dx_k = p_k (log p_k - log q_k - KL).
struct TokenLossRowGrads {
  float g_ce, g_kl, dot, q_sum, kl;
};
LCMD_HOST_DEVICE float token_loss_grad(float x, float lse, bool is_target, float log_q, float g_p, const TokenLossRowGrads& r,
                                       bool has_kl, bool teacher_student) {
  const float p = exp_approx(x - lse);
  float g = r.g_ce * (p - (is_target ? 1.0f : 0.0f)) + p * (g_p - r.dot);
  if (has_kl) g += r.g_kl * (teacher_student ? p * r.q_sum - exp_approx(log_q) : p * ((x - lse) - log_q - r.kl));
  return g;
}

}  // namespace lcmd::fused
