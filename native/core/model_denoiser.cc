#include "core/model_denoiser.h"

#include "core/compat.h"

namespace lcmd {

ModelDenoiser::ModelDenoiser(LcmdModel model, std::shared_ptr<std::mutex> lock, bool bf16)
    : model_(std::move(model)), lock_(lock ? std::move(lock) : std::make_shared<std::mutex>()), bf16_(bf16) {}

at::Tensor ModelDenoiser::logits(const at::Tensor& z, const at::Tensor& t, const at::Tensor& classes) {
  std::lock_guard<std::mutex> guard(*lock_);
  torch::NoGradGuard no_grad;
  bool was_training = model_->is_training();
  model_->eval();
  at::Tensor out;
  {
    compat::AutocastScope autocast(bf16_ && device().is_cuda());
    out = model_->forward(z.to(device()), t.to(device()), classes.defined() ? classes.to(device()) : classes);
  }
  model_->train(was_training);
  return out;
}

at::Tensor ModelDenoiser::embeddings() {
  std::lock_guard<std::mutex> guard(*lock_);
  torch::NoGradGuard no_grad;
  return model_->embedding()->table().detach().clone();
}

c10::Device ModelDenoiser::device() const { return model_->embedding()->table().device(); }

}  // namespace lcmd
