#include "core/train/consistency_loss.h"

#include "core/diffusion/ddim_step.h"

namespace lcmd {

namespace {

// Runs the teacher without gradient, in eval mode unless teacher dropout is asked for, restoring its mode after.
at::Tensor teacher_logits(LcmdModelImpl& teacher, bool dropout, const at::Tensor& z, const at::Tensor& t, const at::Tensor& c,
                          const at::Tensor& dropped) {
  torch::NoGradGuard no_grad;
  bool was_training = teacher.is_training();
  teacher.train(dropout);
  auto out = teacher.forward(z, t, c, {at::Tensor(), dropped});
  teacher.train(was_training);
  return out;
}

}  // namespace

at::Tensor consistency_target(LcmdModelImpl& teacher, const TrainConfig& config, const TrainingNoise& noise, const ConsistencyInputs& in) {
  const auto& schedule = teacher.schedule();
  auto coef = [&](const at::Tensor& v) { return v.view({-1, 1, 1}); };
  at::Tensor z_s;
  if (config.cm_target == "data") {
    z_s = coef(schedule.alpha(noise.s)).to(in.z_t.dtype()) * in.e_in + coef(schedule.sigma(noise.s)).to(in.z_t.dtype()) * noise.eps_t;
  } else {
    auto lt = teacher_logits(teacher, config.teacher_dropout, in.z_t, noise.t, in.classes, in.dropped);
    torch::NoGradGuard no_grad;
    auto e_minus = torch::matmul(torch::softmax(lt, -1), teacher.embedding()->table().to(lt.dtype()));
    z_s = ddim_step(in.z_t, e_minus, coef(schedule.alpha(noise.s)), coef(schedule.sigma(noise.s)), coef(schedule.alpha(noise.t)),
                    coef(schedule.sigma(noise.t)));
  }
  if (in.mask_vector.defined()) z_s = torch::where(in.dropped.unsqueeze(-1), in.mask_vector.to(z_s.dtype()), z_s);
  return torch::log_softmax(teacher_logits(teacher, config.teacher_dropout, z_s.detach(), noise.s, in.classes, in.dropped), -1);
}

}  // namespace lcmd
