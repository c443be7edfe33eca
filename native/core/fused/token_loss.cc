#include "core/fused/token_loss.h"

#include <ATen/Parallel.h>

#include "core/base/error.h"
#include "core/fused/cpu_features.h"
#include "core/fused/token_loss_math.h"

namespace lcmd::fused {

namespace {

// Rows per thread chunk: each row is K exp evaluations forward and backward.
constexpr int64_t kRowGrain = 16;

// Row sums are kept in kLanes partial sums, so that the loops vectorise without reassociating one float sum.
constexpr int64_t kLanes = 8;

template <class Term>
inline __attribute__((always_inline)) float row_sum(int64_t K, Term term) {
  float part[kLanes] = {}, tail = 0.0f;
  int64_t k = 0;
  for (; k + kLanes <= K; k += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) part[l] += term(k + l);
  for (; k < K; ++k) tail += term(k);
  for (int64_t l = 0; l < kLanes; ++l) tail += part[l];
  return tail;
}

struct ForwardRows {
  const float* x;
  const int64_t* targets;
  const float* log_q;  // null without a KL
  float *ce, *kl, *probs, *correct, *lse;
  int64_t K;
  bool teacher_student;
};

struct BackwardRows {
  const float *x, *log_q, *lse, *kl, *g_ce, *g_kl, *g_p;  // log_q, kl, g_ce, g_kl, g_p may be null
  const int64_t* targets;
  float* dx;
  int64_t K;
  bool teacher_student;
};

// The loop bodies, inlined into an AVX2 + FMA build and a baseline build (core/fused/cpu_features.h).
inline __attribute__((always_inline)) void forward_body(const ForwardRows& a, int64_t begin, int64_t end) {
  const int64_t K = a.K;
  for (int64_t r = begin; r < end; ++r) {
    const float* xr = a.x + r * K;
    const int64_t t = a.targets[r];
    LCMD_CHECK(t >= 0 && t < K, "E_RANGE", "a target token is outside [0, " + std::to_string(K) + ")");
    float m = xr[0];
    int64_t arg = 0;
    for (int64_t k = 1; k < K; ++k)
      if (xr[k] > m) m = xr[k], arg = k;
    const float lse = m + std::log(row_sum(K, [&](int64_t k) { return exp_approx(xr[k] - m); }));
    float* pr = a.probs + r * K;
    for (int64_t k = 0; k < K; ++k) pr[k] = softmax_element(xr[k], lse);
    a.ce[r] = lse - xr[t];
    a.correct[r] = arg == t ? 1.0f : 0.0f;
    a.lse[r] = lse;
    if (a.log_q != nullptr) {
      const float* qr = a.log_q + r * K;
      a.kl[r] = row_sum(K, [&](int64_t k) { return kl_term(xr[k], lse, qr[k], a.teacher_student); });
    }
  }
}

inline __attribute__((always_inline)) void backward_body(const BackwardRows& a, int64_t begin, int64_t end) {
  const int64_t K = a.K;
  for (int64_t r = begin; r < end; ++r) {
    const float* xr = a.x + r * K;
    const float* qr = a.log_q != nullptr ? a.log_q + r * K : nullptr;
    const float* gr = a.g_p != nullptr ? a.g_p + r * K : nullptr;
    const float lse = a.lse[r];
    TokenLossRowGrads row{a.g_ce != nullptr ? a.g_ce[r] : 0.0f, a.g_kl != nullptr ? a.g_kl[r] : 0.0f, 0.0f, 1.0f,
                          a.kl != nullptr ? a.kl[r] : 0.0f};
    if (gr != nullptr) row.dot = row_sum(K, [&](int64_t k) { return softmax_element(xr[k], lse) * gr[k]; });
    if (qr != nullptr && a.teacher_student) row.q_sum = row_sum(K, [&](int64_t k) { return exp_approx(qr[k]); });
    float* dr = a.dx + r * K;
    const int64_t t = a.targets[r];
    // the variants without a target distribution or a probability gradient read no row of zeros
    if (qr != nullptr && gr != nullptr) {
      for (int64_t k = 0; k < K; ++k) dr[k] = token_loss_grad(xr[k], lse, k == t, qr[k], gr[k], row, true, a.teacher_student);
    } else if (gr != nullptr) {
      for (int64_t k = 0; k < K; ++k) dr[k] = token_loss_grad(xr[k], lse, k == t, 0.0f, gr[k], row, false, a.teacher_student);
    } else if (qr != nullptr) {
      for (int64_t k = 0; k < K; ++k) dr[k] = token_loss_grad(xr[k], lse, k == t, qr[k], 0.0f, row, true, a.teacher_student);
    } else {
      for (int64_t k = 0; k < K; ++k) dr[k] = token_loss_grad(xr[k], lse, k == t, 0.0f, 0.0f, row, false, a.teacher_student);
    }
  }
}

LCMD_TARGET_AVX2 void forward_avx2(const ForwardRows& a, int64_t begin, int64_t end) { forward_body(a, begin, end); }
void forward_baseline(const ForwardRows& a, int64_t begin, int64_t end) { forward_body(a, begin, end); }
LCMD_TARGET_AVX2 void backward_avx2(const BackwardRows& a, int64_t begin, int64_t end) { backward_body(a, begin, end); }
void backward_baseline(const BackwardRows& a, int64_t begin, int64_t end) { backward_body(a, begin, end); }

// [R, K] float32 contiguous logits and log_q, [R] int64 targets: the layout both passes take.
void check_layout(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& log_q) {
  LCMD_CHECK(logits.dim() == 2 && logits.scalar_type() == at::kFloat && logits.is_contiguous(), "E_NATIVE",
             "the fused loss head takes [rows, K] contiguous float32 logits");
  LCMD_CHECK(targets.dim() == 1 && targets.size(0) == logits.size(0) && targets.scalar_type() == at::kLong, "E_NATIVE",
             "the fused loss head takes one int64 target per row");
  LCMD_CHECK(!log_q.defined() || (log_q.sizes() == logits.sizes() && log_q.scalar_type() == at::kFloat && log_q.is_contiguous()),
             "E_NATIVE", "the fused loss head takes log_q of the logits' shape, float32 contiguous");
}

const float* ptr_or_null(const at::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }

// The unfused losses as libtorch ops, with libtorch's autograd: the reference the fused path is tested against, and
// the path for float64 (gradient checks) and other devices.
TokenLosses unfused(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& log_q, KlDirection direction) {
  auto log_p = torch::log_softmax(logits, -1);
  TokenLosses out;
  out.ce = -log_p.gather(-1, targets.unsqueeze(-1)).squeeze(-1);
  out.probs = torch::softmax(logits, -1);
  if (log_q.defined()) {
    auto q = log_q.to(log_p.scalar_type());
    out.kl = direction == KlDirection::kTeacherStudent ? (q.exp() * (q - log_p)).sum(-1) : (log_p.exp() * (log_p - q)).sum(-1);
  }
  out.correct = (logits.argmax(-1) == targets).to(at::kFloat);
  return out;
}

struct TokenLossFunction : torch::autograd::Function<TokenLossFunction> {
  // Without a target distribution, log_q and the KL are empty tensors: autograd's inputs, outputs and saved variables
  // are all defined tensors.
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const at::Tensor& logits, const at::Tensor& targets,
                                                const at::Tensor& log_q, int64_t direction) {
    const bool has_kl = log_q.numel() > 0;
    const auto dir = static_cast<KlDirection>(direction);
    auto f = token_loss_forward(logits, targets, has_kl ? log_q : at::Tensor(), dir);
    auto kl = has_kl ? f.kl : torch::empty({0}, f.ce.options());
    ctx->save_for_backward({logits, targets, log_q, f.lse, kl});
    ctx->saved_data["direction"] = direction;
    ctx->mark_non_differentiable({f.correct});
    ctx->set_materialize_grads(false);  // an output nothing differentiates (the probabilities of the t = 0 pass) costs nothing
    return {f.ce, kl, f.probs, f.correct};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto dir = static_cast<KlDirection>(ctx->saved_data["direction"].toInt());
    const bool has_kl = saved[2].numel() > 0;
    TokenLossForward f;
    f.lse = saved[3];
    f.kl = has_kl ? saved[4] : at::Tensor();
    auto contiguous = [](const at::Tensor& g) { return g.defined() ? g.contiguous() : g; };
    auto dx = token_loss_backward(saved[0], saved[1], has_kl ? saved[2] : at::Tensor(), f, contiguous(grads[0]),
                                  has_kl ? contiguous(grads[1]) : at::Tensor(), contiguous(grads[2]), dir);
    return {dx, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

bool token_losses_are_fused(const at::Tensor& logits) {
#ifdef LCMD_WITH_CUDA
  if (logits.is_cuda()) return logits.scalar_type() == at::kFloat;
#endif
  return logits.device().is_cpu() && logits.scalar_type() == at::kFloat;
}

TokenLossForward empty_token_loss_forward(const at::Tensor& logits, bool has_kl) {
  const int64_t R = logits.size(0);
  TokenLossForward f;
  f.ce = torch::empty({R}, logits.options());
  f.kl = has_kl ? torch::empty({R}, logits.options()) : at::Tensor();
  f.probs = torch::empty_like(logits);
  f.correct = torch::empty({R}, logits.options());
  f.lse = torch::empty({R}, logits.options());
  return f;
}

TokenLossForward token_loss_forward(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& log_q, KlDirection direction) {
  check_layout(logits, targets, log_q);
#ifdef LCMD_WITH_CUDA
  if (logits.is_cuda()) return token_loss_forward_cuda(logits, targets, log_q, direction);
#endif
  const int64_t R = logits.size(0), K = logits.size(1);
  auto f = empty_token_loss_forward(logits, log_q.defined());
  const ForwardRows rows{logits.data_ptr<float>(), targets.data_ptr<int64_t>(), ptr_or_null(log_q), f.ce.data_ptr<float>(),
                         f.kl.defined() ? f.kl.data_ptr<float>() : nullptr, f.probs.data_ptr<float>(), f.correct.data_ptr<float>(),
                         f.lse.data_ptr<float>(), K, direction == KlDirection::kTeacherStudent};
  at::parallel_for(0, R, kRowGrain, [&](int64_t begin, int64_t end) {
    cpu_uses_avx2() ? forward_avx2(rows, begin, end) : forward_baseline(rows, begin, end);
  });
  return f;
}

at::Tensor token_loss_backward(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& log_q, const TokenLossForward& saved,
                               const at::Tensor& grad_ce, const at::Tensor& grad_kl, const at::Tensor& grad_probs, KlDirection direction) {
  check_layout(logits, targets, log_q);
#ifdef LCMD_WITH_CUDA
  if (logits.is_cuda()) return token_loss_backward_cuda(logits, targets, log_q, saved, grad_ce, grad_kl, grad_probs, direction);
#endif
  const int64_t R = logits.size(0), K = logits.size(1);
  auto dx = torch::empty_like(logits);
  const BackwardRows rows{logits.data_ptr<float>(), ptr_or_null(log_q), saved.lse.data_ptr<float>(), ptr_or_null(saved.kl), ptr_or_null(grad_ce),
                          ptr_or_null(grad_kl), ptr_or_null(grad_probs), targets.data_ptr<int64_t>(), dx.data_ptr<float>(), K,
                          direction == KlDirection::kTeacherStudent};
  at::parallel_for(0, R, kRowGrain, [&](int64_t begin, int64_t end) {
    cpu_uses_avx2() ? backward_avx2(rows, begin, end) : backward_baseline(rows, begin, end);
  });
  return dx;
}

TokenLosses token_losses(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& log_q, KlDirection direction) {
  LCMD_CHECK(logits.dim() >= 1 && targets.sizes() == logits.sizes().slice(0, logits.dim() - 1), "E_SHAPE",
             "the loss head needs one target per row of logits");
  LCMD_CHECK(!log_q.defined() || log_q.sizes() == logits.sizes(), "E_SHAPE", "the loss head needs log_q of the logits' shape");
  if (!token_losses_are_fused(logits)) return unfused(logits, targets, log_q, direction);
  const auto rows = targets.sizes().vec();
  const int64_t K = logits.size(-1);
  auto q = log_q.defined() ? log_q.detach().to(at::kFloat).reshape({-1, K}).contiguous() : torch::empty({0}, logits.options());
  auto out = TokenLossFunction::apply(logits.reshape({-1, K}).contiguous(), targets.reshape({-1}).to(at::kLong).contiguous(), q,
                                      static_cast<int64_t>(direction));
  TokenLosses result;
  result.ce = out[0].view(rows);
  if (log_q.defined()) result.kl = out[1].view(rows);
  result.probs = out[2].view(logits.sizes());
  result.correct = out[3].view(rows);
  return result;
}

}  // namespace lcmd::fused
