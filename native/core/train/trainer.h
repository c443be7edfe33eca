// One VQ-LCMD training run: the student, the CM teacher, the sampling EMA, AdamW, the step counter, and the
// step itself (losses, backward, optional gradient all-reduce, clipping, update, EMAs).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/train/adamw.h"
#include "core/train/time_warp.h"
#include "core/model/lcmd_model.h"
#include "core/train/train_config.h"

namespace lcmd {

struct StepResult {
  int64_t step = 0;  // steps completed after this one (skipped steps included)
  bool skipped = false;
  double loss = 0, recon = 0, ce = 0, diff = 0, cm = 0, prior = 0, accuracy_t = 0;
  double grad_norm = 0, lr = 0, lambda_cm = 0, lambda_diff = 0;
};

// Data-parallel gradient averaging (set by the distributed module). prepare, when set, gives every trainable
// parameter its gradient buffer before the forward (persistent bucket views; otherwise grads start undefined each
// step); reduce averages the gradients (and any tensors appended after them) across the ranks in place.
struct GradientSync {
  std::function<void(std::vector<at::Tensor>& params)> prepare;
  std::function<void(std::vector<at::Tensor>& grads)> reduce;
};

class Trainer {
 public:
  Trainer(const ModelConfig& model_config, const TrainConfig& train_config);

  // tokens [B, N] integer, classes [B] integer or undefined. example_offset is the index of this rank's first
  // example in the step's global batch, so noise is independent of how the batch is split across ranks.
  StepResult step(const at::Tensor& tokens, const at::Tensor& classes, int64_t example_offset = 0);

  void set_gradient_sync(GradientSync sync) { sync_ = std::move(sync); }

  LcmdModel& model() { return model_; }
  LcmdModel& ema() { return ema_; }
  LcmdModelImpl& teacher();
  const ModelConfig& model_config() const { return model_->config(); }
  const TrainConfig& train_config() const { return config_; }
  c10::Device device() const { return device_; }
  int64_t steps() const { return steps_; }
  int64_t skipped_steps() const { return skipped_; }

  // Checkpoint state: every tensor by documented name ("model.*", "ema.*", "teacher.*", "optim.exp_avg.*",
  // "optim.exp_avg_sq.*", "time_warp.stats" with the learned time warp, "rng.cpu"), plus the counters.
  std::vector<std::pair<std::string, at::Tensor>> state_tensors() const;
  void load_state(const std::map<std::string, at::Tensor>& tensors, int64_t steps, int64_t skipped, int64_t optimizer_steps);
  // CSDM-dagger: a tokenizer codebook [K, d] becomes the embedding table of the model, the sampling EMA and the teacher.
  // Only before the first step, so the optimizer and the EMAs start from it.
  void load_codebook(const at::Tensor& codebook);
  int64_t optimizer_steps() const { return optimizer_->steps(); }
  // the parameters the optimizer updates, in the order of the gradients a GradientSync receives
  const std::vector<at::Tensor>& trainable_parameters() const { return params_; }
  // the learned time warp, or null when t is uniform
  const TimeWarp* time_warp() const { return time_warp_.get(); }

 private:
  void validate_batch(const at::Tensor& tokens, const at::Tensor& classes) const;
  // The optimizer step with the two EMAs of the trained weights, then the EMAs of the weights nothing trains.
  void apply_update(double lr, double grad_scale);

  TrainConfig config_;
  c10::Device device_;
  LcmdModel model_{nullptr};
  LcmdModel ema_{nullptr};
  LcmdModel teacher_{nullptr};  // only for teacher "ema"
  std::vector<std::string> names_;
  std::vector<at::Tensor> params_;
  // the sampling EMA's and the teacher's copies of params_, in the same order (the teacher's empty without one)
  std::vector<at::Tensor> ema_params_, teacher_params_;
  // the weights that nothing trains (a frozen embedding table): student, sampling EMA and teacher copies
  std::vector<at::Tensor> frozen_params_, frozen_ema_, frozen_teacher_;
  std::unique_ptr<AdamW> optimizer_;
  std::unique_ptr<TimeWarp> time_warp_;
  GradientSync sync_;
  int64_t steps_ = 0;
  int64_t skipped_ = 0;
};

}  // namespace lcmd
