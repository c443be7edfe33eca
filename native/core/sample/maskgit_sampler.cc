#include "core/sample/maskgit_sampler.h"

#include <cmath>
#include <limits>

#include "core/sample/sampler_commit.h"
#include "core/sample/sampler_guidance.h"

namespace lcmd {

MaskgitBatch maskgit_sample_batch(Denoiser& denoiser, const SampleNoise& noise, const at::Tensor& classes, const KnownTokens& known,
                                  int64_t count, int64_t steps, double guidance, double temperature,
                                  const std::function<void(int64_t)>& on_step) {
  const auto device = denoiser.device();
  const int64_t n_tokens = denoiser.num_tokens();
  const auto table = denoiser.embeddings().to(device, at::kFloat);
  const auto mask_vec = denoiser.mask_embedding().to(device, at::kFloat);
  auto tokens = torch::zeros({count, n_tokens}, at::TensorOptions().dtype(at::kLong).device(device));
  auto masked = torch::ones({count, n_tokens}, at::TensorOptions().dtype(at::kBool).device(device));
  if (known.defined()) {
    tokens = torch::where(known.mask, known.tokens, tokens);
    masked = known.mask.logical_not();
  }
  // Each sample unmasks its own free positions on the schedule of its own count of them.
  const auto free_count = masked.sum(1);  // [B]
  const auto zero_t = torch::zeros({count}, at::TensorOptions().dtype(at::kFloat).device(device));
  MaskgitBatch out;
  for (int64_t i = 0; i < steps; ++i) {
    auto z = torch::where(masked.unsqueeze(-1), mask_vec, torch::embedding(table, tokens));
    const double w = steps > 1 ? guidance * double(i) / double(steps - 1) : guidance;
    auto guided = guided_logits(denoiser, z, zero_t, classes, w);
    out.forward_rows += guided.forward_rows;
    auto probs = torch::softmax(guided.logits.to(at::kFloat), -1);
    auto choice = drawn_with_gumbel(probs, noise.uniform(SampleNoiseKind::kTokenDraw, i, {n_tokens, 2}),
                                    noise.uniform(SampleNoiseKind::kGumbel, i, {n_tokens}), temperature * (1.0 - double(i) / double(steps)));
    const auto& draw = choice.tokens;
    auto score = choice.score.masked_fill(masked.logical_not(), -std::numeric_limits<float>::infinity());
    // still masked after this step: floor(F cos(pi/2 (i+1)/T)) of a sample's F free positions, and fewer than now
    auto keep_masked = i + 1 >= steps ? torch::zeros_like(free_count)
                                      : torch::floor(free_count.to(at::kDouble) * std::cos(M_PI / 2 * double(i + 1) / double(steps))).to(at::kLong);
    auto now_masked = masked.sum(1);
    keep_masked = torch::minimum(keep_masked, (now_masked - 1).clamp_min(0));
    auto reveal = now_masked - keep_masked;  // [B] positions to unmask in this step
    // rank of each position's score within its row: reveal the `reveal` best masked positions
    auto order = score.argsort(1, /*descending=*/true);
    auto rank = torch::empty_like(order).scatter_(1, order, torch::arange(n_tokens, order.options()).expand({count, n_tokens}).contiguous());
    auto chosen = masked & (rank < reveal.unsqueeze(1));
    tokens = torch::where(chosen, draw, tokens);
    masked = masked & chosen.logical_not();
    on_step(i);
  }
  out.tokens = tokens;
  return out;
}

}  // namespace lcmd
