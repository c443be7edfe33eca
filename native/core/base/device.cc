#include "core/base/device.h"

#include "core/base/error.h"

namespace lcmd {

c10::Device parse_device(const std::string& name) {
  c10::Device device(at::kCPU);
  try {
    device = c10::Device(name);
  } catch (const c10::Error&) {
    fail("E_DEVICE", "unknown device '" + name + "': expected 'cpu', 'cuda' or 'cuda:N'");
  }
  LCMD_CHECK(device.is_cpu() || device.is_cuda(), "E_DEVICE", "only 'cpu' and 'cuda[:N]' devices are supported, got '" + name + "'");
  if (device.is_cuda()) {
    LCMD_CHECK(torch::cuda::is_available(), "E_DEVICE",
               "device '" + name + "' requested, but this libtorch has no CUDA or no GPU is visible (see `lcmd info`)");
    int64_t index = device.has_index() ? device.index() : 0;
    LCMD_CHECK(index < int64_t(torch::cuda::device_count()), "E_DEVICE",
               "device '" + name + "' requested, but only " + std::to_string(torch::cuda::device_count()) + " GPU(s) are visible");
    device = c10::Device(at::kCUDA, index);
  }
  return device;
}

}  // namespace lcmd
