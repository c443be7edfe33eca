// Held-out diagnostics: the variational bound in bits per token (its three terms separately), the per-noise-level
// table of token accuracy and cross-entropy, and embedding statistics that make collapse visible.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "core/base/task_context.h"
#include "core/model/lcmd_model.h"

namespace lcmd {

struct VlbReport {
  double recon_bits = 0;      // E[-log p(x | z_0)] per token
  double prior_bits = 0;      // KL(q(z_1 | x) || N(0, I)) per token
  double diffusion_bits = 0;  // L_diff^VLB per token (importance-sampled over lambda)
  double total_bits = 0;
  double diffusion_stderr_bits = 0;  // standard error of the diffusion estimate
  int64_t tokens = 0;
};

struct NoiseLevelRow {
  double t_low, t_high, logsnr_mid;
  double accuracy = 0;       // argmax of p(x_i | z_t) equals x_i
  double cross_entropy = 0;  // nats
};

struct EmbeddingStats {
  double mean_norm;           // mean row norm of E
  double mean_pairwise_dist;  // mean distance between distinct rows (over at most 512 rows)
  double min_pairwise_dist;
  double dist_to_norm;        // mean distance / mean norm: falls toward 0 as embeddings collapse
};

// tokens [n, N] int64, classes [n] int64 or undefined. Runs in eval mode without gradient, in batches.
VlbReport estimate_vlb(LcmdModelImpl& model, const at::Tensor& tokens, const at::Tensor& classes, int64_t importance_samples,
                       uint64_t seed, int64_t batch_size);

std::vector<NoiseLevelRow> noise_level_table(LcmdModelImpl& model, const at::Tensor& tokens, const at::Tensor& classes, int64_t bins,
                                             uint64_t seed, int64_t batch_size);

EmbeddingStats embedding_stats(const LcmdModelImpl& model);

struct HeldoutOptions {
  int64_t importance_samples = 4;
  int64_t bins = 10;
  int64_t batch_size = 64;
  uint64_t seed = 0;
};

struct HeldoutReport {
  VlbReport vlb;
  std::vector<NoiseLevelRow> table;
  EmbeddingStats embeddings;
};

// The whole held-out report of `lcmd eval` and of a training run's evaluations: checks the tokens against the model
// (shape, id range) and the options, then the bound, the per-noise-level table and the embedding statistics.
HeldoutReport evaluate_heldout(LcmdModelImpl& model, const at::Tensor& tokens, const at::Tensor& classes, const HeldoutOptions& options,
                               const TaskContext& ctx);

}  // namespace lcmd
