#include "core/train/objective.h"

#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "core/base/device.h"
#include "core/base/error.h"
#include "core/fused/token_loss.h"
#include "core/train/consistency_loss.h"
#include "core/train/maskgit_loss.h"
#include "core/train/token_dropping.h"

namespace lcmd {

namespace {

// [B] float64 schedule values -> [B, 1, 1] in the dtype of `like`
at::Tensor per_example(const at::Tensor& v, const at::Tensor& like) { return v.to(like.scalar_type()).view({-1, 1, 1}); }

// The examples whose self-conditioning coin (a host tensor) falls below the rate, as an index on `device`. Picked on
// the host from host values, so that the size of the first pass is known without waiting for the device.
at::Tensor self_cond_rows(const at::Tensor& coins, double rate, c10::Device device) {
  LCMD_CHECK(coins.is_cpu() && coins.dim() == 1, "E_NATIVE", "the self-conditioning coins must be a 1-D host tensor");
  auto u = coins.to(at::kFloat).contiguous();
  const float* p = u.data_ptr<float>();
  const float threshold = static_cast<float>(rate);  // compared in float32, as a tensor comparison would
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < u.numel(); ++i)
    if (p[i] < threshold) rows.push_back(i);
  return host_to_device(torch::tensor(rows, at::kLong), device);
}

LossTerms maskgit_terms(LcmdModelImpl& model, const TrainConfig& config, const ObjectiveInputs& in, const at::Tensor& classes) {
  auto loss = maskgit_loss(model, config, in.tokens, classes, *in.noise);
  auto zero = torch::zeros({}, loss.ce.options());
  LossTerms out;
  out.total = loss.total;
  out.ce = loss.ce;
  out.accuracy_t = loss.accuracy;
  out.recon = torch::full({}, std::numeric_limits<double>::quiet_NaN(), loss.ce.options());
  out.diff = out.cm = out.prior = zero;
  return out;
}

}  // namespace

at::Tensor prior_kl(const at::Tensor& e, double alpha_1, double sigma_1) {
  double d = double(e.size(-1));
  double s2 = sigma_1 * sigma_1;
  return 0.5 * (alpha_1 * alpha_1 * e.pow(2).sum(-1) + d * (s2 - 1.0 - std::log(s2)));
}

LossTerms compute_losses(LcmdModelImpl& student, LcmdModelImpl& teacher, const TrainConfig& config, const ObjectiveInputs& in) {
  const auto& noise = *in.noise;
  const auto& schedule = student.schedule();
  const auto& mc = student.config();
  const int64_t batch = in.tokens.size(0);
  const bool vlb = config.objective == "vlb";

  at::Tensor classes = in.classes;
  if (classes.defined() && mc.num_classes > 0 && !vlb && config.class_dropout > 0) {
    classes = torch::where(noise.class_uniforms < config.class_dropout, torch::full_like(classes, mc.num_classes), classes);
  }
  if (mc.method == "maskgit") return maskgit_terms(student, config, in, classes);

  auto table = student.embedding()->table();
  auto e_x = torch::embedding(table, in.tokens);  // [B, N, d], undropped: the L_diff target
  auto dropped = drop_mask(config.drop_strategy, vlb ? 0.0 : config.drop_rate, noise.drop_uniforms, noise.ratio_uniforms, noise.t);
  auto mask_vec = student.embedding()->mask_vector().to(e_x.dtype());
  const bool before = config.drop_placement == "before-noise";
  auto e_in = before ? torch::where(dropped.unsqueeze(-1), mask_vec, e_x) : e_x;
  auto apply_late_drop = [&](const at::Tensor& z) { return before ? z : torch::where(dropped.unsqueeze(-1), mask_vec, z); };

  auto alpha_t = per_example(schedule.alpha(noise.t), e_x), sigma_t = per_example(schedule.sigma(noise.t), e_x);
  auto z_t = apply_late_drop(alpha_t * e_in + sigma_t * noise.eps_t);

  // Self-conditioning: for a share of the examples, a first gradient-free prediction at t becomes part of the input.
  // The first pass runs on those examples only (the others get zeros), which halves its cost at the default rate.
  at::Tensor self_cond;
  if (mc.self_condition) {
    torch::NoGradGuard no_grad;
    self_cond = torch::zeros_like(e_x);
    auto rows = self_cond_rows(noise.self_cond_uniforms, config.self_cond_rate, e_x.device());
    if (rows.numel() > 0) {
      auto pick = [&](const at::Tensor& x) { return x.defined() ? x.index_select(0, rows) : x; };
      auto first = student.forward(pick(z_t), pick(noise.t), pick(classes), {at::Tensor(), pick(dropped)});
      self_cond.index_copy_(0, rows, student.predicted_embedding(first).to(e_x.dtype()));
    }
  }

  // One batched student forward for t and, when the reconstruction term is on, for 0.
  const bool recon_on = config.lambda_recon > 0 || vlb;
  at::Tensor logits_t, logits_0;
  if (recon_on) {
    auto zero_t = torch::zeros_like(noise.t);
    auto alpha_0 = per_example(schedule.alpha(zero_t), e_x), sigma_0 = per_example(schedule.sigma(zero_t), e_x);
    auto z_0 = apply_late_drop(alpha_0 * e_in + sigma_0 * noise.eps_0);
    ForwardExtras extras{self_cond.defined() ? torch::cat({self_cond, torch::zeros_like(self_cond)}) : at::Tensor(), torch::cat({dropped, dropped})};
    auto both_classes = classes.defined() ? torch::cat({classes, classes}) : classes;
    auto logits = student.forward(torch::cat({z_t, z_0}), torch::cat({noise.t, zero_t}), both_classes, extras);
    logits_t = logits.narrow(0, 0, batch);
    logits_0 = logits.narrow(0, batch, batch);
  } else {
    logits_t = student.forward(z_t, noise.t, classes, {self_cond, dropped});
  }

  // the CM target first: the teacher does not depend on the student's logits, and the loss head takes it in its pass
  at::Tensor log_q;
  if (!vlb && in.lambda_cm > 0) {
    log_q = in.fixed_cm_log_q;
    if (!log_q.defined()) log_q = consistency_target(teacher, config, noise, {z_t.detach(), e_in.detach(), dropped, classes, before ? at::Tensor() : mask_vec.detach()});
  }
  const auto direction = config.kl_direction == "teacher-student" ? fused::KlDirection::kTeacherStudent : fused::KlDirection::kStudentTeacher;

  LossTerms out;
  out.recon = recon_on ? fused::token_losses(logits_0, in.tokens, at::Tensor(), direction).ce.mean()
                       : torch::full({}, std::numeric_limits<double>::quiet_NaN(), logits_t.options());
  // one pass over the K logits at t: the cross-entropy, the CM loss's KL, the probabilities and the argmax
  auto head = fused::token_losses(logits_t, in.tokens, log_q, direction);
  out.ce = head.ce.mean();
  // per example too, so the time warp sees each example's CE (its mean is the same CE)
  if (config.time_warp == "learned") out.ce_per_example = head.ce.detach().mean(1);
  at::Tensor sq_err;  // [B, N]
  {
    // L_diff only logged (lambda_diff 0, as in CE-only recipes): no graph, so backward skips p E and the probs' gradient
    std::optional<torch::NoGradGuard> logged_only;
    if (!vlb && in.lambda_diff == 0) logged_only.emplace();
    auto e_hat = torch::matmul(head.probs, table.to(head.probs.scalar_type()));  // the predicted embedding p E
    sq_err = (e_x.to(e_hat.dtype()) - e_hat).pow(2).sum(-1);
  }
  double alpha_1 = schedule.alpha(1.0), sigma_1 = schedule.sigma(1.0);
  out.prior = prior_kl(e_x, alpha_1, sigma_1).mean();
  out.accuracy_t = head.correct.mean();

  if (vlb) {
    out.diff = (sq_err.mean(1) * noise.t_weight.to(sq_err.dtype())).mean();
    out.cm = torch::zeros({}, out.recon.options());
    out.total = out.recon + out.prior + out.diff;
    return out;
  }

  out.diff = sq_err.mean();
  out.cm_log_q = log_q;
  out.cm = log_q.defined() ? head.kl.mean() : torch::zeros({}, out.ce.options());
  out.total = in.lambda_cm * out.cm + in.lambda_diff * out.diff;
  if (recon_on) out.total = out.total + config.lambda_recon * out.recon;
  if (config.lambda_ce > 0) out.total = out.total + config.lambda_ce * out.ce;
  return out;
}

}  // namespace lcmd
