// Learned time warping for training (CDCD, Dieleman et al. 2022, section 4.2; train.timeWarp "learned").
//
// The cross-entropy CE(t) = -log p(x | z_t) rises from about 0 at t = 0 to the prior's entropy at t = 1, and most of
// that rise happens over a narrow range of t. Uniform t spends most steps where CE is flat: the tokens are either
// plain or hopeless there. The warp draws t with density proportional to dCE/dt, estimated online, so that training
// goes where the prediction changes. The CE stays unweighted: a different t density is a different weighting of the
// same per-t cross-entropies, each of which is minimised by the true posterior.
//
// The estimate: per-bin sums of the examples' CE and per-bin counts over kBins equal bins of t, per example of the
// batch and decayed by kDecay per step; the bins' means, made non-decreasing by a running maximum, are the curve. A share kUniformShare of the
// density stays uniform so that every bin keeps being sampled and its mean current. Before any statistics, t is uniform.
//
// The same warp gives a sampling time grid (sampler_time_grid.h, timeGrid "learned"): the grid times are the inverse
// CDF at j / T, so each sampling step covers an equal share of the cross-entropy's rise.
#pragma once
#include <torch/torch.h>

namespace lcmd {

// The warp of statistics `stats` [2, TimeWarp::kBins] (the layout of TimeWarp::statistics()), on their device:
// the bins' probabilities [kBins] float64, and the map from uniforms u to times t, float32, in u's shape.
at::Tensor time_warp_bin_probabilities(const at::Tensor& stats);
at::Tensor time_warp_times(const at::Tensor& stats, const at::Tensor& u);

class TimeWarp {
 public:
  static constexpr int64_t kBins = 64;
  static constexpr double kDecay = 0.99;
  static constexpr double kUniformShare = 0.1;

  explicit TimeWarp(c10::Device device);

  // u [B] uniforms in (0, 1) -> t [B] float32 in (0, 1), through the inverse of the current density's CDF.
  at::Tensor times(const at::Tensor& u) const { return time_warp_times(stats_, u); }
  // [2, kBins] float32: per-bin sums of ce [B] and per-bin counts of the batch's t [B], both divided by B. Data-parallel
  // ranks average these with the gradients, so every rank folds in the global batch's statistics, whatever the world size.
  at::Tensor batch_statistics(const at::Tensor& t, const at::Tensor& ce) const;
  // statistics = kDecay * statistics + batch
  void update(const at::Tensor& batch);
  // [kBins] float64 probabilities of the bins (uniform until statistics exist)
  at::Tensor bin_probabilities() const { return time_warp_bin_probabilities(stats_); }

  // [2, kBins] float32, the checkpointed state ("time_warp.stats"): row 0 decayed CE sums, row 1 decayed counts.
  const at::Tensor& statistics() const { return stats_; }
  at::Tensor& statistics() { return stats_; }

 private:
  at::Tensor stats_;
};

}  // namespace lcmd
