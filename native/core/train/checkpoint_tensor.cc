#include "core/train/checkpoint_tensor.h"

#include "core/base/error.h"

namespace lcmd {

const at::Tensor& checkpoint_tensor(const std::map<std::string, at::Tensor>& tensors, const std::string& name, const at::Tensor& like,
                                    const std::string& file) {
  auto it = tensors.find(name);
  LCMD_CHECK(it != tensors.end(), "E_CHECKPOINT", file + " lacks tensor '" + name + "'");
  const auto& t = it->second;
  LCMD_CHECK(t.sizes() == like.sizes(), "E_CHECKPOINT",
             file + ": tensor '" + name + "' has shape " + c10::str(t.sizes()) + ", expected " + c10::str(like.sizes()));
  LCMD_CHECK(t.scalar_type() == like.scalar_type(), "E_CHECKPOINT",
             file + ": tensor '" + name + "' is " + std::string(c10::toString(t.scalar_type())) + ", expected " +
                 std::string(c10::toString(like.scalar_type())) + "; the file is damaged or was not written by lcmd");
  if (t.is_floating_point())
    LCMD_CHECK(torch::isfinite(t).all().item<bool>(), "E_CHECKPOINT",
               file + ": tensor '" + name + "' holds NaN or infinite values; resume from an earlier checkpoint");
  return t;
}

}  // namespace lcmd
