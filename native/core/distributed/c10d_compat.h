// Every difference between libtorch 1.13 and 2.x in c10d (PyTorch's distributed engine) lives in this one file;
// the general version differences are in core/compat.h.
//   - 1.13: ProcessGroupGloo / ProcessGroupNCCL derive from c10d::ProcessGroup, and their Options from
//     ProcessGroup::Options. 2.x (from 2.0): they derive from c10d::Backend (ProcessGroup became a wrapper that
//     dispatches to backends), Options from Backend::Options. Both expose the same allreduce / broadcast calls.
//   - 2.6+ (seen in 2.6 and 2.11): ProcessGroupNCCL wants shutdown() before it is destroyed (what Python's
//     destroy_process_group() does) and warns otherwise.
//   - 2.x: TCPStoreOptions gained useLibUV (on by default from 2.4) and masterListenFd; the defaults are right.
// Gloo needs gloo's own headers (Debian: libgloo-dev; pip torch: not shipped). Without them the Gloo backend
// compiles out and asking for it is a clear E_DISTRIBUTED error, so the addon still builds.
#pragma once
#include <torch/torch.h>

#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>

#include "core/base/compat.h"

#if defined(USE_C10D_GLOO) && __has_include(<gloo/algorithm.h>)
#define LCMD_HAS_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#else
#define LCMD_HAS_GLOO 0
#endif

#if defined(USE_C10D_NCCL)
#define LCMD_HAS_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#else
#define LCMD_HAS_NCCL 0
#endif

#if LCMD_TORCH_AT_LEAST(2, 0)
#include <torch/csrc/distributed/c10d/Backend.hpp>
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#endif

namespace lcmd::compat {

// The common base of ProcessGroupGloo and ProcessGroupNCCL: what lcmd calls collectives on.
#if LCMD_TORCH_AT_LEAST(2, 0)
using CollectiveBackend = ::c10d::Backend;
#else
using CollectiveBackend = ::c10d::ProcessGroup;
#endif

// A clean goodbye before the backend is released (only called when no collective failed or is in flight).
inline void shutdown_backend(CollectiveBackend& backend) {
#if LCMD_HAS_NCCL && LCMD_TORCH_AT_LEAST(2, 6)
  if (auto* nccl = dynamic_cast<::c10d::ProcessGroupNCCL*>(&backend)) nccl->shutdown();
#endif
}

}  // namespace lcmd::compat
