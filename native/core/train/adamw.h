// AdamW with decoupled weight decay applied only where the mask says so (never to embeddings, norms, biases).
// Multi-tensor (_foreach) arithmetic: a handful of kernel launches per step, whatever the parameter count.
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
};

class AdamW {
 public:
  AdamW(std::vector<at::Tensor> params, std::vector<bool> decay, AdamWOptions options);

  // Applies one update with learning rate lr to every parameter that has a gradient.
  void step(double lr);

  int64_t steps() const { return steps_; }
  void set_steps(int64_t n) { steps_ = n; }
  std::vector<at::Tensor>& exp_avg() { return exp_avg_; }
  std::vector<at::Tensor>& exp_avg_sq() { return exp_avg_sq_; }

 private:
  std::vector<at::Tensor> params_;
  std::vector<bool> decay_;
  AdamWOptions options_;
  std::vector<at::Tensor> exp_avg_;
  std::vector<at::Tensor> exp_avg_sq_;
  int64_t steps_ = 0;
};

}  // namespace lcmd
