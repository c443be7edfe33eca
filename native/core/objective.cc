#include "core/objective.h"

#include <cmath>

#include "core/token_dropping.h"

namespace lcmd {

namespace {

// [B] float64 schedule values -> [B, 1, 1] in the dtype of `like`
at::Tensor per_example(const at::Tensor& v, const at::Tensor& like) { return v.to(like.scalar_type()).view({-1, 1, 1}); }

// Runs the teacher without gradient, in eval mode unless teacher dropout is asked for, restoring its mode after.
at::Tensor teacher_logits(LcmdModelImpl& teacher, bool dropout, const at::Tensor& z, const at::Tensor& t, const at::Tensor& c) {
  torch::NoGradGuard no_grad;
  bool was_training = teacher.is_training();
  teacher.train(dropout);
  auto out = teacher.forward(z, t, c);
  teacher.train(was_training);
  return out;
}

}  // namespace

at::Tensor kl_divergence(const at::Tensor& log_q, const at::Tensor& log_p) { return (log_q.exp() * (log_q - log_p)).sum(-1); }

at::Tensor prior_kl(const at::Tensor& e, double alpha_1, double sigma_1) {
  double d = double(e.size(-1));
  double s2 = sigma_1 * sigma_1;
  return 0.5 * (alpha_1 * alpha_1 * e.pow(2).sum(-1) + d * (s2 - 1.0 - std::log(s2)));
}

LossTerms compute_losses(LcmdModelImpl& student, LcmdModelImpl& teacher, const TrainConfig& config, const ObjectiveInputs& in) {
  const auto& noise = *in.noise;
  const auto& schedule = student.schedule();
  const int64_t batch = in.tokens.size(0);
  const int64_t vocab = student.config().vocab_size;
  const bool vlb = config.objective == "vlb";

  auto table = student.embedding()->table();
  auto e_x = torch::embedding(table, in.tokens);  // [B, N, d], undropped: the L_diff target
  auto dropped = drop_mask(config.drop_strategy, vlb ? 0.0 : config.drop_rate, noise.drop_uniforms, noise.ratio_uniforms, noise.t)
                     .unsqueeze(-1);
  auto mask_vec = student.embedding()->mask_vector().to(e_x.dtype());
  const bool before = config.drop_placement == "before-noise";
  auto e_in = before ? torch::where(dropped, mask_vec, e_x) : e_x;
  auto apply_late_drop = [&](const at::Tensor& z) { return before ? z : torch::where(dropped, mask_vec, z); };

  auto alpha_t = per_example(schedule.alpha(noise.t), e_x), sigma_t = per_example(schedule.sigma(noise.t), e_x);
  auto z_t = apply_late_drop(alpha_t * e_in + sigma_t * noise.eps_t);
  auto zero_t = torch::zeros_like(noise.t);
  auto alpha_0 = per_example(schedule.alpha(zero_t), e_x), sigma_0 = per_example(schedule.sigma(zero_t), e_x);
  auto z_0 = apply_late_drop(alpha_0 * e_in + sigma_0 * noise.eps_0);

  at::Tensor classes = in.classes;
  if (classes.defined() && student.config().num_classes > 0 && !vlb && config.class_dropout > 0) {
    classes = torch::where(noise.class_uniforms < config.class_dropout, torch::full_like(classes, student.config().num_classes), classes);
  }
  auto both_classes = classes.defined() ? torch::cat({classes, classes}) : classes;

  // One batched student forward for t and 0.
  auto logits = student.forward(torch::cat({z_t, z_0}), torch::cat({noise.t, zero_t}), both_classes);
  auto logits_t = logits.narrow(0, 0, batch), logits_0 = logits.narrow(0, batch, batch);

  LossTerms out;
  out.recon = torch::nn::functional::cross_entropy(logits_0.reshape({-1, vocab}), in.tokens.reshape({-1}));
  auto e_hat = torch::matmul(torch::softmax(logits_t, -1), table.to(logits_t.dtype()));
  auto sq_err = (e_x.to(e_hat.dtype()) - e_hat).pow(2).sum(-1);  // [B, N]
  double alpha_1 = schedule.alpha(1.0), sigma_1 = schedule.sigma(1.0);
  out.prior = prior_kl(e_x, alpha_1, sigma_1).mean();
  out.accuracy_t = (logits_t.argmax(-1) == in.tokens).to(at::kFloat).mean();

  if (vlb) {
    out.diff = (sq_err.mean(1) * noise.t_weight.to(sq_err.dtype())).mean();
    out.cm = torch::zeros({}, out.recon.options());
    out.total = out.recon + out.prior + out.diff;
    return out;
  }

  out.diff = sq_err.mean();
  if (in.lambda_cm > 0) {
    at::Tensor log_q = in.fixed_cm_log_q;
    if (!log_q.defined()) {
      auto alpha_s = per_example(schedule.alpha(noise.s), e_x), sigma_s = per_example(schedule.sigma(noise.s), e_x);
      at::Tensor z_s;
      if (config.cm_target == "data") {
        z_s = apply_late_drop(alpha_s * e_in + sigma_s * noise.eps_t).detach();
      } else {
        auto lt = teacher_logits(teacher, config.teacher_dropout, z_t.detach(), noise.t, classes);
        torch::NoGradGuard no_grad;
        auto e_minus = torch::matmul(torch::softmax(lt, -1), teacher.embedding()->table().to(lt.dtype()));
        z_s = ddim_step(z_t.detach(), e_minus, schedule.alpha(noise.s).view({-1, 1, 1}), schedule.sigma(noise.s).view({-1, 1, 1}),
                        schedule.alpha(noise.t).view({-1, 1, 1}), schedule.sigma(noise.t).view({-1, 1, 1}));
      }
      log_q = torch::log_softmax(teacher_logits(teacher, config.teacher_dropout, z_s, noise.s, classes), -1);
    }
    out.cm_log_q = log_q;
    auto log_p = torch::log_softmax(logits_t, -1);
    out.cm = (config.kl_direction == "teacher-student" ? kl_divergence(log_q, log_p) : kl_divergence(log_p, log_q)).mean();
  } else {
    out.cm = torch::zeros({}, out.recon.options());
  }
  out.total = out.recon + in.lambda_cm * out.cm + in.lambda_diff * out.diff;
  return out;
}

}  // namespace lcmd
