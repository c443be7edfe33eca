#include "core/sample/sampler_guidance.h"

#include "core/base/error.h"

namespace lcmd {

GuidedLogits guided_logits(Denoiser& denoiser, const at::Tensor& z, const at::Tensor& t, const at::Tensor& classes, double w,
                           const at::Tensor& self_cond) {
  const int64_t batch = z.size(0);
  if (w == 0.0 || !classes.defined()) return {denoiser.logits(z, t, classes, self_cond), batch};
  LCMD_CHECK(denoiser.num_classes() > 0, "E_CONFIG", "guidance needs a class-conditional model");
  auto null_classes = torch::full({batch}, denoiser.num_classes(), classes.options());
  auto both = denoiser.logits(at::cat({z, z}), at::cat({t, t}), at::cat({classes, null_classes}),
                              self_cond.defined() ? at::cat({self_cond, self_cond}) : self_cond);
  auto conditional = both.narrow(0, 0, batch);
  auto unconditional = both.narrow(0, batch, batch);
  return {conditional * static_cast<float>(1.0 + w) - unconditional * static_cast<float>(w), 2 * batch};
}

}  // namespace lcmd
