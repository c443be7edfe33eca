// Adapts a trained LcmdModel to the sampler's Denoiser interface: eval mode, no gradient, optional bf16 autocast,
// and a lock shared with the trainer so sampling never races a training step on the same weights.
#pragma once
#include <memory>
#include <mutex>

#include "core/sample/denoiser.h"
#include "core/model/lcmd_model.h"

namespace lcmd {

class ModelDenoiser : public Denoiser {
 public:
  // time_warp: the training warp's statistics (shared with a live trainer, which updates them in place), or undefined
  ModelDenoiser(LcmdModel model, std::shared_ptr<std::mutex> lock, bool bf16, at::Tensor time_warp = {});

  at::Tensor logits(const at::Tensor& z, const at::Tensor& t, const at::Tensor& classes) override;
  bool self_conditioned() const override { return model_->config().self_condition; }
  at::Tensor logits(const at::Tensor& z, const at::Tensor& t, const at::Tensor& classes, const at::Tensor& self_cond) override;
  std::string method() const override { return model_->config().method; }
  at::Tensor mask_embedding() override;
  at::Tensor embeddings() override;
  const NoiseSchedule& schedule() const override { return model_->schedule(); }
  int64_t num_classes() const override { return model_->config().num_classes; }
  int64_t vocab_size() const override { return model_->config().vocab_size; }
  int64_t embed_dim() const override { return model_->config().embed_dim; }
  int64_t num_tokens() const override { return model_->config().num_tokens(); }
  c10::Device device() const override;
  at::Tensor time_warp_statistics() const override;

 private:
  LcmdModel model_;
  std::shared_ptr<std::mutex> lock_;
  bool bf16_;
  at::Tensor time_warp_;
};

}  // namespace lcmd
