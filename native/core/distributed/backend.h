// Creates the c10d collective backend: ProcessGroupGloo for CPU tensors, ProcessGroupNCCL for CUDA tensors.
#pragma once
#include <torch/torch.h>

#include "core/distributed/c10d_compat.h"
#include "core/distributed/options.h"

namespace lcmd {

// Whether this build of lcmd can create the backend ("gloo" needs gloo's headers at build time, "nccl" a CUDA
// libtorch built with NCCL).
bool backend_available(const std::string& backend);

// Throws E_DISTRIBUTED saying what to install or choose when the backend is not available.
void require_backend(const std::string& backend);

// Connects the ranks' backend through the store (every rank calls this; it returns when all have connected, or
// fails after the options' timeout).
c10::intrusive_ptr<compat::CollectiveBackend> create_backend(const c10::intrusive_ptr<c10d::Store>& store, const DistributedOptions& options);

}  // namespace lcmd
