#include "core/base/device.h"

#include <cstdlib>

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
    // fp32 matmuls and convolutions on CUDA use TF32 tensor cores (8x the fp32 rate on H100), as PyTorch's
    // matmul precision "high" does; LCMD_TF32=0 keeps full fp32 (e.g. for exact CPU parity).
    const char* tf32 = std::getenv("LCMD_TF32");
    const bool allow = !(tf32 && std::string(tf32) == "0");
    at::globalContext().setAllowTF32CuBLAS(allow);
    at::globalContext().setAllowTF32CuDNN(allow);
  }
  return device;
}

at::Tensor host_to_device(const at::Tensor& host, c10::Device device) {
  if (!device.is_cuda() || host.is_cuda()) return host.to(device);
  return host.pin_memory().to(device, /*non_blocking=*/true);
}

}  // namespace lcmd
