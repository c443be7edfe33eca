// Counts the host-device synchronisations of a piece of work, so that the CPU tests can bound them.
//
// On CUDA, a call that needs a value on the host (`.item()`, `nonzero`, `masked_select`, `unique`, a boolean test
// of a tensor) or a blocking copy back makes the host wait for the device. Such calls stall the GPU's queue and rule
// out CUDA graphs. On the CPU nothing waits, but the same calls are made: a SyncProbe observes libtorch's
// dispatcher on its thread and counts them while a DevicePhase is open, so a CPU test sees every sync the GPU
// would. A copy back to the host is not visible there (on the CPU it is no copy at all), so the code reads device
// values only through read_to_host(), which counts itself.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace lcmd {

class SyncProbe {
 public:
  SyncProbe();  // observes the calling thread until destroyed; probes do not nest
  ~SyncProbe();
  SyncProbe(const SyncProbe&) = delete;
  SyncProbe& operator=(const SyncProbe&) = delete;

  // the syncs seen, in order: an operator name ("aten::_local_scalar_dense") or "read_to_host: <what>"
  const std::vector<std::string>& syncs() const { return syncs_; }

  // Marks the device part of a piece of work (after its host-side input checks): syncs count only inside one.
  class DevicePhase {
   public:
    DevicePhase();
    ~DevicePhase();
    DevicePhase(const DevicePhase&) = delete;
    DevicePhase& operator=(const DevicePhase&) = delete;
  };

  // internal: called by the dispatcher observer and by read_to_host
  static void record(const std::string& what);

 private:
  std::vector<std::string> syncs_;
  uint64_t callback_ = 0;
};

// The one way to bring device values to the host: a single blocking copy of `values` to the CPU (a sync on CUDA),
// recorded by an active SyncProbe. `what` names the read in the probe's list.
at::Tensor read_to_host(const at::Tensor& values, const char* what);

}  // namespace lcmd
