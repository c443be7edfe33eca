#include "core/base/sync_probe.h"

#include <ATen/record_function.h>

#include <cstring>

#include "core/base/error.h"

namespace lcmd {

namespace {

thread_local SyncProbe* current_probe = nullptr;
thread_local int device_phase_depth = 0;

// The operators whose CUDA implementation makes the host wait for the device.
bool synchronises(const char* name) {
  static const char* const kNames[] = {
      "aten::_local_scalar_dense",  // .item()
      "aten::nonzero",              // also behind boolean-mask indexing
      "aten::nonzero_numpy",
      "aten::masked_select",
      "aten::_unique",
      "aten::_unique2",
      "aten::unique_dim",
      "aten::unique_consecutive",
      "aten::is_nonzero",           // `if (tensor)`
      "aten::equal",
      "aten::allclose",
      "aten::repeat_interleave",    // with tensor repeats, the output size
  };
  for (const char* n : kNames)
    if (std::strcmp(name, n) == 0) return true;
  return false;
}

std::unique_ptr<at::ObserverContext> on_operator(const at::RecordFunction& fn) {
  if (current_probe && device_phase_depth > 0 && synchronises(fn.name())) SyncProbe::record(fn.name());
  return nullptr;
}

}  // namespace

SyncProbe::SyncProbe() {
  LCMD_CHECK(current_probe == nullptr, "E_NATIVE", "sync probes do not nest");
  current_probe = this;
  callback_ = at::addThreadLocalCallback(at::RecordFunctionCallback(on_operator).scopes({at::RecordScope::FUNCTION}));
}

SyncProbe::~SyncProbe() {
  at::removeCallback(callback_);
  current_probe = nullptr;
}

void SyncProbe::record(const std::string& what) {
  if (current_probe && device_phase_depth > 0) current_probe->syncs_.push_back(what);
}

SyncProbe::DevicePhase::DevicePhase() { ++device_phase_depth; }
SyncProbe::DevicePhase::~DevicePhase() { --device_phase_depth; }

at::Tensor read_to_host(const at::Tensor& values, const char* what) {
  SyncProbe::record(std::string("read_to_host: ") + what);
  return values.to(at::kCPU).contiguous();
}

}  // namespace lcmd
