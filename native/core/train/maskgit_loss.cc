#include "core/train/maskgit_loss.h"

#include <cmath>

namespace lcmd {

at::Tensor maskgit_training_mask(const TrainingNoise& noise) {
  auto ratio = torch::cos(noise.t.to(at::kDouble) * (M_PI / 2)).to(at::kFloat).unsqueeze(1);  // [B, 1]
  auto masked = noise.drop_uniforms < ratio;
  // an example with nothing masked teaches nothing: mask its position with the smallest draw
  auto first = noise.drop_uniforms.argmin(1, true);
  auto none = masked.any(1, true).logical_not();
  return masked.scatter(1, first, none | masked.gather(1, first));
}

MaskgitLoss maskgit_loss(LcmdModelImpl& model, const TrainConfig& config, const at::Tensor& tokens, const at::Tensor& classes,
                         const TrainingNoise& noise) {
  auto masked = maskgit_training_mask(noise);
  auto input = model.masked_input(tokens, masked);
  auto logits = model.forward(input, torch::zeros_like(noise.t), classes);  // [B, N, K]
  const int64_t vocab = logits.size(-1);
  auto flat_mask = masked.reshape({-1});
  auto picked = logits.reshape({-1, vocab}).index({flat_mask});
  auto targets = tokens.reshape({-1}).index({flat_mask});
  auto log_p = torch::log_softmax(picked, -1);
  auto nll = -log_p.gather(1, targets.unsqueeze(1)).squeeze(1);
  MaskgitLoss out;
  out.ce = nll.mean();
  const double eps = config.label_smoothing;
  out.total = eps > 0 ? ((1 - eps) * nll - eps * log_p.mean(-1)).mean() : out.ce;
  out.accuracy = (picked.argmax(-1) == targets).to(at::kFloat).mean();
  return out;
}

}  // namespace lcmd
