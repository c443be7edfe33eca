// The consistency-matching target of docs/method.md ("Consistency matching"): the teacher's prediction at the earlier
// time s, after one DDIM step from z_t with the teacher's own e_hat (or, with cmTarget "data", at z_s drawn from the
// data with the same noise). No gradient flows through the target.
#pragma once
#include <torch/torch.h>

#include "core/model/lcmd_model.h"
#include "core/noise/training_noise.h"
#include "core/train/train_config.h"

namespace lcmd {

struct ConsistencyInputs {
  at::Tensor z_t;        // [B, N, d] the student's input at t
  at::Tensor e_in;       // [B, N, d] the (dropped) embeddings z_t was made from
  at::Tensor dropped;    // [B, N] bool
  at::Tensor classes;    // [B] after class dropout, or undefined
  at::Tensor mask_vector;  // [d] the student's [mask] vector, defined when dropping is after noise: z_s gets it too
};

// log q [B, N, K]: the CM target's log-probabilities.
at::Tensor consistency_target(LcmdModelImpl& teacher, const TrainConfig& config, const TrainingNoise& noise, const ConsistencyInputs& in);

}  // namespace lcmd
