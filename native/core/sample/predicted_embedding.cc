#include "core/sample/predicted_embedding.h"

namespace lcmd {

at::Tensor predicted_embedding(const at::Tensor& probs, const at::Tensor& table) {
  const auto batch = probs.size(0);
  auto weights = table.to(probs.scalar_type()).unsqueeze(0).expand({batch, table.size(0), table.size(1)});
  return at::bmm(probs, weights);
}

}  // namespace lcmd
