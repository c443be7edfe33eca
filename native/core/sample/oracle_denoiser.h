// An exact denoiser for a tiny dataset, for testing and analysing samplers (not a model).
//
// The data are M token grids x_m (N tokens each) with prior weights w_m and optional classes c_m, embedded by a fixed
// table E [K, d]. Under the forward process q(z_t | x) = N(alpha_t e_x, sigma_t^2 I) the posterior over the grids is
//   p(m | z_t) ∝ w_m Π_i N(z_i; alpha_t e_{x_m,i}, sigma_t^2 I)
// (float64, log-space, normalised with logsumexp), and the per-token marginals are
//   p(x_i = k | z_t) = Σ_m p(m | z_t) [x_{m,i} = k].
// logits() returns the log of those marginals, floored at -1e4 (not -inf) so softmax and guidance stay finite.
//
// Classes: for a class c < C the prior becomes w_m for grids of class c and leak * w_m for the others (leak = 0: the
// mixture is restricted to class c; leak in (0, 1): an imperfectly conditioned model). The null class C, or no
// classes at all, uses every grid with its prior weight.
#pragma once
#include <torch/torch.h>

#include "core/sample/denoiser.h"

namespace lcmd {

struct OracleData {
  at::Tensor grids;         // [M, N] integer tokens in [0, K)
  at::Tensor embeddings;    // [K, d] float32
  at::Tensor classes;       // [M] integers in [0, num_classes), or undefined for an unconditional oracle
  at::Tensor weights;       // [M] positive prior weights (normalised here), or undefined for equal weights
  int64_t num_classes = 0;  // C; 0 for an unconditional oracle
  double class_leak = 0.0;  // in [0, 1]
  double shift = 0.1;       // the schedule's shift s
  c10::Device device = c10::Device(c10::kCPU);
};

class OracleDenoiser : public Denoiser {
 public:
  explicit OracleDenoiser(OracleData data);

  at::Tensor logits(const at::Tensor& z, const at::Tensor& t, const at::Tensor& classes) override;
  at::Tensor embeddings() override { return table_; }
  const NoiseSchedule& schedule() const override { return schedule_; }
  int64_t num_classes() const override { return num_classes_; }
  int64_t vocab_size() const override { return table_.size(0); }
  int64_t embed_dim() const override { return table_.size(1); }
  int64_t num_tokens() const override { return grids_.size(1); }
  c10::Device device() const override { return device_; }

  static constexpr double kLogitFloor = -1e4;

 private:
  // [M] float64 log prior for a class (num_classes_ or above: the null class).
  at::Tensor log_prior(int64_t cls) const;

  at::Tensor grids_;           // [M, N] int64
  at::Tensor table_;           // [K, d] float32
  at::Tensor grid_embeddings_; // [M, N * d] float64
  at::Tensor grid_norms_;      // [M] float64, ||e_{x_m}||^2
  at::Tensor log_weights_;     // [M] float64, normalised
  at::Tensor grid_classes_;    // [M] int64 or undefined
  int64_t num_classes_;
  double class_leak_;
  NoiseSchedule schedule_;
  c10::Device device_;
};

}  // namespace lcmd
