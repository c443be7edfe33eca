#include "core/sample/sampler_infill.h"

#include "core/base/device.h"

namespace lcmd {

KnownTokens KnownTokens::rows(int64_t first, int64_t count, c10::Device device) const {
  auto pick = [&](const at::Tensor& t) { return t.size(0) == 1 ? t.expand({count, t.size(1)}) : t.narrow(0, first, count); };
  auto m = host_to_device(pick(mask).to(at::kBool).contiguous(), device);
  auto x = host_to_device(pick(tokens).to(at::kLong).contiguous(), device);
  return {at::where(m, x, at::zeros_like(x)).contiguous(), m};
}

at::Tensor noise_known(const at::Tensor& z_t, const KnownTokens& known, const at::Tensor& table, double alpha_t, double sigma_t,
                       const at::Tensor& eps) {
  auto embedded = table.to(z_t.scalar_type()).index_select(0, known.tokens.flatten()).view(z_t.sizes());
  auto fresh = embedded * static_cast<float>(alpha_t) + eps * static_cast<float>(sigma_t);
  return at::where(known.mask.unsqueeze(-1), fresh, z_t);
}

at::Tensor keep_known(const at::Tensor& tokens, const KnownTokens& known) {
  return at::where(known.mask, known.tokens.to(tokens.scalar_type()), tokens);
}

at::Tensor keep_known_probs(const at::Tensor& probs, const KnownTokens& known) {
  auto one_hot = torch::zeros_like(probs).scatter_(-1, known.tokens.unsqueeze(-1), 1.0);
  return at::where(known.mask.unsqueeze(-1), one_hot, probs);
}

}  // namespace lcmd
