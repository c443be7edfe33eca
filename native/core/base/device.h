// Parsing and checking a user's device string ("cpu", "cuda", "cuda:N"), and moving host inputs onto the device.
#pragma once
#include <torch/torch.h>

#include <string>

namespace lcmd {

// E_DEVICE with a message saying what is available when the device cannot be used.
c10::Device parse_device(const std::string& name);

// A host tensor on `device` without making the host wait: on CUDA it is staged in pinned memory and copied
// asynchronously on the current stream (libtorch keeps the pinned block until the copy is done). On the CPU, itself.
at::Tensor host_to_device(const at::Tensor& host, c10::Device device);

}  // namespace lcmd
