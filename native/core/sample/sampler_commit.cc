#include "core/sample/sampler_commit.h"

#include <cmath>
#include <limits>

#include "core/sample/sampler_final.h"

namespace lcmd {

int64_t committed_after_step(int64_t n, int64_t steps, int64_t j) {
  if (j <= 1) return n;
  const double share = 1.0 - std::cos(M_PI / 2 * double(steps - j + 1) / double(steps));
  return std::min<int64_t>(n, int64_t(std::floor(double(n) * share + 1e-9)));
}

CommitChoice most_confident(const at::Tensor& probs) {
  auto [confidence, best] = probs.max(-1);  // [B, N]
  return {best, confidence.to(at::kFloat)};
}

CommitChoice drawn_with_gumbel(const at::Tensor& probs, const at::Tensor& draw_uniforms, const at::Tensor& gumbel_uniforms, double noise_scale) {
  auto tokens = final_tokens(probs, FinalRule::kSample, draw_uniforms);
  auto log_p = torch::log(probs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1).to(at::kFloat).clamp_min(1e-30f));
  auto gumbel = -torch::log(-torch::log(gumbel_uniforms));
  return {tokens, log_p + static_cast<float>(noise_scale) * gumbel};
}

Commitment commit_tokens(const CommitChoice& choice, const Commitment& previous, int64_t count) {
  const auto& best = choice.tokens;
  auto mask = previous.mask.defined() ? previous.mask : torch::zeros_like(best, best.options().dtype(at::kBool));
  auto tokens = previous.tokens.defined() ? previous.tokens : torch::zeros_like(best);
  // committed positions rank first, so the top `count` keep them and add the best-scored of the rest
  auto score = choice.score.masked_fill(mask, std::numeric_limits<float>::infinity());
  auto top = std::get<1>(score.topk(count, -1));
  auto next = torch::zeros_like(mask).scatter(-1, top, true);
  return {next, torch::where(mask, tokens, torch::where(next, best, torch::zeros_like(best)))};
}

at::Tensor clamp_to_committed(const at::Tensor& e_hat, const Commitment& commitment, const at::Tensor& table) {
  return torch::where(commitment.mask.unsqueeze(-1), torch::embedding(table, commitment.tokens).to(e_hat.dtype()), e_hat);
}

}  // namespace lcmd
