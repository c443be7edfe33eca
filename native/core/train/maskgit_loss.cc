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
  // Means over the masked positions as weighted sums over all of them: boolean indexing would need the count of
  // masked positions on the host (a sync on CUDA).
  auto weight = masked.to(at::kFloat);
  auto count = weight.sum();
  auto masked_mean = [&](const at::Tensor& per_position) { return (per_position * weight).sum() / count; };
  auto log_p = torch::log_softmax(logits.to(at::kFloat), -1);  // [B, N, K]
  auto nll = -log_p.gather(-1, tokens.unsqueeze(-1)).squeeze(-1);  // [B, N]
  MaskgitLoss out;
  out.ce = masked_mean(nll);
  const double eps = config.label_smoothing;
  out.total = eps > 0 ? masked_mean((1 - eps) * nll - eps * log_p.mean(-1)) : out.ce;
  out.accuracy = masked_mean((logits.argmax(-1) == tokens).to(at::kFloat));
  return out;
}

}  // namespace lcmd
