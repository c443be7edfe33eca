#include "core/sample/model_denoiser.h"

#include "core/base/compat.h"

namespace lcmd {

ModelDenoiser::ModelDenoiser(LcmdModel model, std::shared_ptr<std::mutex> lock, bool bf16, at::Tensor time_warp)
    : model_(std::move(model)), lock_(lock ? std::move(lock) : std::make_shared<std::mutex>()), bf16_(bf16), time_warp_(std::move(time_warp)) {}

at::Tensor ModelDenoiser::time_warp_statistics() const {
  if (!time_warp_.defined()) return {};
  // under the lock: a trainer sharing the model updates the statistics in place between steps
  std::lock_guard<std::mutex> guard(*lock_);
  return time_warp_.to(at::kCPU, at::kFloat, /*non_blocking=*/false, /*copy=*/true);
}

at::Tensor ModelDenoiser::logits(const at::Tensor& z, const at::Tensor& t, const at::Tensor& classes) {
  return logits(z, t, classes, at::Tensor());
}

at::Tensor ModelDenoiser::logits(const at::Tensor& z, const at::Tensor& t, const at::Tensor& classes, const at::Tensor& self_cond) {
  std::lock_guard<std::mutex> guard(*lock_);
  torch::NoGradGuard no_grad;
  bool was_training = model_->is_training();
  model_->eval();
  at::Tensor out;
  {
    compat::AutocastScope autocast(bf16_ && device().is_cuda());
    out = model_->forward(z.to(device()), t.to(device()), classes.defined() ? classes.to(device()) : classes,
                          {self_cond.defined() ? self_cond.to(device()) : self_cond, at::Tensor()});
  }
  model_->train(was_training);
  return out;
}

at::Tensor ModelDenoiser::embeddings() {
  std::lock_guard<std::mutex> guard(*lock_);
  torch::NoGradGuard no_grad;
  return model_->embedding()->table().detach().clone();
}

at::Tensor ModelDenoiser::mask_embedding() {
  std::lock_guard<std::mutex> guard(*lock_);
  return model_->embedding()->mask_vector().detach().clone();
}

c10::Device ModelDenoiser::device() const { return model_->embedding()->table().device(); }

}  // namespace lcmd
