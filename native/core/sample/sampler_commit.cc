#include "core/sample/sampler_commit.h"

#include <cmath>

namespace lcmd {

int64_t committed_after_step(int64_t n, int64_t steps, int64_t j) {
  if (j <= 1) return n;
  const double share = 1.0 - std::cos(M_PI / 2 * double(steps - j + 1) / double(steps));
  return std::min<int64_t>(n, int64_t(std::floor(double(n) * share + 1e-9)));
}

Commitment commit_tokens(const at::Tensor& probs, const Commitment& previous, int64_t count) {
  auto [confidence, best] = probs.max(-1);  // [B, N]
  auto mask = previous.mask.defined() ? previous.mask : torch::zeros_like(best, best.options().dtype(at::kBool));
  auto tokens = previous.tokens.defined() ? previous.tokens : torch::zeros_like(best);
  // committed positions rank first, so the top `count` keep them and add the most confident of the rest
  auto score = confidence.to(at::kFloat).masked_fill(mask, 2.0f);
  auto top = std::get<1>(score.topk(count, -1));
  auto next = torch::zeros_like(mask).scatter(-1, top, true);
  return {next, torch::where(mask, tokens, torch::where(next, best, torch::zeros_like(best)))};
}

at::Tensor clamp_to_committed(const at::Tensor& e_hat, const Commitment& commitment, const at::Tensor& table) {
  return torch::where(commitment.mask.unsqueeze(-1), torch::embedding(table, commitment.tokens).to(e_hat.dtype()), e_hat);
}

}  // namespace lcmd
