// AdamW with decoupled weight decay applied only where the mask says so (never to embeddings, norms, biases), and the
// EMAs of the updated weights in the same step. On float32 CPU and CUDA tensors the whole step is one fused pass
// (core/fused/adamw_ema.h); otherwise (float64 models, mixed devices) it is multi-tensor (_foreach) arithmetic.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace lcmd {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.01;
  bool allow_fused = true;  // false runs the unfused passes (tests compare the two)
};

// An EMA of the optimizer's parameters: weights[i] follows params[i], with decay mu this step.
struct EmaTarget {
  std::vector<at::Tensor> weights;
  double decay;
};

class AdamW {
 public:
  AdamW(std::vector<at::Tensor> params, std::vector<bool> decay, AdamWOptions options);

  // One update with learning rate lr of every parameter that has a gradient, its gradient multiplied by grad_scale
  // (the clip coefficient), then at most two EMAs of the new weights (the sampling EMA and the CM teacher).
  void step(double lr, double grad_scale = 1.0, const std::vector<EmaTarget>& emas = {});

  int64_t steps() const { return steps_; }
  void set_steps(int64_t n) { steps_ = n; }
  std::vector<at::Tensor>& exp_avg() { return exp_avg_; }
  std::vector<at::Tensor>& exp_avg_sq() { return exp_avg_sq_; }
  // Whether the last step took the fused pass.
  bool last_step_fused() const { return last_step_fused_; }

 private:
  bool fused_step(double lr, double grad_scale, const std::vector<EmaTarget>& emas);
  void unfused_step(double lr, double grad_scale, const std::vector<EmaTarget>& emas);

  std::vector<at::Tensor> params_;
  std::vector<bool> decay_;
  AdamWOptions options_;
  std::vector<at::Tensor> exp_avg_;
  std::vector<at::Tensor> exp_avg_sq_;
  int64_t steps_ = 0;
  bool last_step_fused_ = false;
};

}  // namespace lcmd
