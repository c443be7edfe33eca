// The loss head over K logits in one pass each way (llm.c's fused classifier is the model): per row of logits, the
// cross-entropy against the token, the KL divergence against a target distribution (the CM loss), the probabilities
// (for the predicted embedding p E) and whether the argmax is the token; backward, the gradient at the logits of all
// three differentiable outputs at once. Unfused, the same is a softmax, two log-softmaxes, the cross-entropies, the KL's
// exp / sub / mul / sum and an argmax, each a pass over the [rows, K] logits, and as many again backward.
// Float32 rows on the CPU and on CUDA; other types (float64 for gradient checks) run the same losses as libtorch ops.
#pragma once
#include <torch/torch.h>

namespace lcmd::fused {

enum class KlDirection { kTeacherStudent, kStudentTeacher };  // KL(q || p) or KL(p || q)

struct TokenLosses {
  at::Tensor ce;       // [...] per row: -log p(target), with autograd
  at::Tensor kl;       // [...] per row, with autograd; undefined without log_q
  at::Tensor probs;    // [..., K] softmax, with autograd
  at::Tensor correct;  // [...] float32 1 where the argmax is the target (the first maximum, as argmax), no gradient
};

// logits: [..., K] (the rows are every leading index); targets: [...] int64 in [0, K); log_q: [..., K] log-probabilities
// of the target distribution, or undefined for no KL. log_q gets no gradient.
TokenLosses token_losses(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& log_q, KlDirection direction);

// Whether token_losses takes the fused path for these logits.
bool token_losses_are_fused(const at::Tensor& logits);

// The two passes on their own (no autograd), on [R, K] float32 logits, [R] int64 targets, [R, K] or undefined log_q.
struct TokenLossForward {
  at::Tensor ce, kl, probs, correct;
  at::Tensor lse;  // [R] float32, for the backward pass
};
TokenLossForward token_loss_forward(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& log_q, KlDirection direction);
// The forward pass's outputs, allocated (uninitialised) for [R, K] logits, with a KL when has_kl.
TokenLossForward empty_token_loss_forward(const at::Tensor& logits, bool has_kl);
// grad_ce, grad_kl: [R] or undefined (zero); grad_probs: [R, K] or undefined (zero). Returns the gradient at the logits.
at::Tensor token_loss_backward(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& log_q, const TokenLossForward& saved,
                               const at::Tensor& grad_ce, const at::Tensor& grad_kl, const at::Tensor& grad_probs, KlDirection direction);

#ifdef LCMD_WITH_CUDA
TokenLossForward token_loss_forward_cuda(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& log_q, KlDirection direction);
at::Tensor token_loss_backward_cuda(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& log_q, const TokenLossForward& saved,
                                    const at::Tensor& grad_ce, const at::Tensor& grad_kl, const at::Tensor& grad_probs, KlDirection direction);
#endif

}  // namespace lcmd::fused
