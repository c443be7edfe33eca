// Parsing and checking a user's device string ("cpu", "cuda", "cuda:N").
#pragma once
#include <torch/torch.h>

#include <string>

namespace lcmd {

// E_DEVICE with a message saying what is available when the device cannot be used.
c10::Device parse_device(const std::string& name);

}  // namespace lcmd
