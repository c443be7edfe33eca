// The training objective (docs/method.md, "Training objective"):
//   L = lambda_recon L_recon + lambda_CE L_CE + lambda_CM L_CM + lambda_diff L_diff,
// or the CSDM ablation that minimises the variational bound (objective "vlb"), or the MaskGIT baseline's
// masked-token cross-entropy (model method "maskgit").
#pragma once
#include <torch/torch.h>

#include "core/model/lcmd_model.h"
#include "core/noise/training_noise.h"
#include "core/train/train_config.h"

namespace lcmd {

struct LossTerms {
  at::Tensor total;  // differentiable
  at::Tensor recon;  // -log p(x | z_0; t = 0), mean over tokens (NaN when lambda_recon = 0 skips it)
  at::Tensor ce;     // -log p(x | z_t; t) at the sampled t, mean over tokens (MaskGIT: over the masked tokens)
  at::Tensor diff;   // ||e_x - e_hat(z_t)||^2 summed over d, mean over tokens (VLB-weighted for objective "vlb")
  at::Tensor cm;     // KL consistency term, mean over tokens (0 when off)
  at::Tensor prior;  // KL(q(z_1 | x) || N(0, I)) per token (part of the VLB objective; reported always)
  at::Tensor ce_per_example;  // [B] the CE at t per example, no gradient (only for train.timeWarp "learned")
  at::Tensor accuracy_t;  // token accuracy of the student at t (MaskGIT: on the masked tokens)
  at::Tensor cm_log_q;    // [B, N, K] the CM target's log-probabilities, no gradient (undefined when lambda_cm == 0)
};

struct ObjectiveInputs {
  at::Tensor tokens;   // [B, N] int64
  at::Tensor classes;  // [B] int64 or undefined
  const TrainingNoise* noise;
  double lambda_cm;
  double lambda_diff;
  // When defined, used as the CM target instead of the teacher's. The target is stop-gradient yet depends on the
  // student's embeddings through z_t, so a finite-difference check must hold it fixed to match autograd.
  at::Tensor fixed_cm_log_q = {};
};

// teacher: the CM teacher network (may be the student itself for the "online" teacher); unused when lambda_cm == 0.
LossTerms compute_losses(LcmdModelImpl& student, LcmdModelImpl& teacher, const TrainConfig& config, const ObjectiveInputs& in);

// Per-token KL(N(alpha_1 e, sigma_1^2 I) || N(0, I)) for embeddings e [.., d], in nats.
at::Tensor prior_kl(const at::Tensor& e, double alpha_1, double sigma_1);

}  // namespace lcmd
