// One tensor of a checkpoint, checked before it is copied into a model: present, of the model's shape and dtype (a
// header that says I32 for F32 bytes must not load as integer-cast weights), and finite (NaN weights would sample
// nothing but token 0 and evaluate to NaN bits without a word).
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>

namespace lcmd {

// `file` names the checkpoint in messages. Throws E_CHECKPOINT naming the tensor.
const at::Tensor& checkpoint_tensor(const std::map<std::string, at::Tensor>& tensors, const std::string& name, const at::Tensor& like,
                                    const std::string& file);

}  // namespace lcmd
