#include "core/distributed/backend.h"

#include <cstdlib>

#include "core/distributed/rendezvous.h"
#include "core/distributed/error.h"
#include "core/base/error.h"

namespace lcmd {

bool backend_available(const std::string& backend) {
  if (backend == "gloo") return LCMD_HAS_GLOO;
  if (backend == "nccl") return LCMD_HAS_NCCL;
  return false;
}

void require_backend(const std::string& backend) {
  if (backend_available(backend)) return;
  if (backend == "gloo")
    fail("E_DISTRIBUTED",
         "this build of lcmd has no Gloo backend: it was compiled without gloo's headers. Install them "
         "(Debian/Ubuntu: sudo apt-get install libgloo-dev) and rebuild lcmd (npm rebuild lcmd)");
  if (backend == "nccl")
    fail("E_DISTRIBUTED", "the 'nccl' backend needs lcmd built against a CUDA libtorch with NCCL (this one is libtorch " +
                              std::string(compat::torch_version()) + " without NCCL); use the 'gloo' backend for CPU training");
  fail("E_CONFIG", "unknown distributed backend '" + backend + "': use 'gloo' (CPU) or 'nccl' (CUDA)");
}

namespace {

#if LCMD_HAS_GLOO
c10::intrusive_ptr<compat::CollectiveBackend> create_gloo(const c10::intrusive_ptr<c10d::Store>& store, const DistributedOptions& options) {
  auto gloo_options = c10d::ProcessGroupGloo::Options::create(options.timeout());
  // Which address peers reach this rank at, as torch.distributed chooses it: GLOO_SOCKET_IFNAME names a network
  // interface; single-machine runs (MASTER_ADDR on loopback) use loopback, which works even where the host name
  // does not resolve; otherwise the address the host name resolves to.
  const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
  bool local = options.master_addr == "127.0.0.1" || options.master_addr == "localhost" || options.master_addr == "::1";
  if (interface && *interface)
    gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
  else if (local)
    gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(options.master_addr));
  else
    gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  gloo_options->threads = 2;
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, int(options.rank), int(options.world_size), gloo_options);
}
#endif

#if LCMD_HAS_NCCL
c10::intrusive_ptr<compat::CollectiveBackend> create_nccl(const c10::intrusive_ptr<c10d::Store>& store, const DistributedOptions& options) {
  // The gradient all-reduce is waited for by the stream only (Wait::Stream), so a hung one must be ended by NCCL's
  // watchdog: with asynchronous error handling on, it aborts the communicator after the timeout and ends the process
  // instead of leaving it hanging. The variable's name changed in libtorch 2.2; a user's setting is kept.
  setenv("NCCL_ASYNC_ERROR_HANDLING", "1", 0);
  setenv("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1", 0);
  auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
  nccl_options->timeout = options.timeout();
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, int(options.rank), int(options.world_size), nccl_options);
}
#endif

}  // namespace

c10::intrusive_ptr<compat::CollectiveBackend> create_backend(const c10::intrusive_ptr<c10d::Store>& store, const DistributedOptions& options) {
  // Backend keys live under their own prefix, apart from lcmd's rendezvous and heartbeat keys.
  require_backend(options.backend);
  auto scoped = c10::make_intrusive<c10d::PrefixStore>(options.backend, store);
  try {
#if LCMD_HAS_GLOO
    if (options.backend == "gloo") return create_gloo(scoped, options);
#endif
#if LCMD_HAS_NCCL
    if (options.backend == "nccl") return create_nccl(scoped, options);
#endif
    fail("E_DISTRIBUTED", "backend '" + options.backend + "' is not available");
  } catch (const lcmd::Error&) {
    throw;
  } catch (const std::exception& e) {
    fail("E_DISTRIBUTED", "rank " + std::to_string(options.rank) + " could not connect its " + options.backend + " backend to the other " +
                              std::to_string(options.world_size - 1) + " ranks within " + options.timeout_text() + ": " + brief_what(e));
  }
}

}  // namespace lcmd
