// The MaskGIT baseline's objective (docs/method.md, "MaskGIT baseline"): each example masks a share
// gamma(u) = cos(pi u / 2), u ~ U(0, 1), of its tokens (each position independently), and the network, which sees
// E[x] with the [mask] vector at masked positions, is trained by cross-entropy on the masked positions only.
#pragma once
#include <torch/torch.h>

#include "core/model/lcmd_model.h"
#include "core/noise/training_noise.h"
#include "core/train/train_config.h"

namespace lcmd {

struct MaskgitLoss {
  at::Tensor total;     // differentiable: the masked-token cross-entropy (with label smoothing)
  at::Tensor ce;        // the plain masked-token cross-entropy, for logs
  at::Tensor accuracy;  // accuracy on the masked positions
};

// The masked positions of a batch: [B, N] bool, at least one per example.
at::Tensor maskgit_training_mask(const TrainingNoise& noise);

MaskgitLoss maskgit_loss(LcmdModelImpl& model, const TrainConfig& config, const at::Tensor& tokens, const at::Tensor& classes,
                         const TrainingNoise& noise);

}  // namespace lcmd
