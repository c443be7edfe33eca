#include "core/distributed/rendezvous.h"

#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include "core/distributed/error.h"
#include "core/base/error.h"

namespace lcmd {

std::string join_key(int64_t rank) { return "lcmd/join/" + std::to_string(rank); }
std::string left_key(int64_t rank) { return "lcmd/left/" + std::to_string(rank); }

std::string store_address(const DistributedOptions& options) {
  return options.master_addr + ":" + std::to_string(options.master_port);
}

c10::intrusive_ptr<c10d::Store> connect_store(const DistributedOptions& options, bool host_server) {
  c10d::TCPStoreOptions store_options;
  store_options.port = uint16_t(options.master_port);
  store_options.isServer = host_server;
  // lcmd waits for the workers itself (join_ranks), so a timeout can say which ranks are missing
  store_options.waitWorkers = false;
  store_options.timeout = options.timeout();
  try {
    return c10::make_intrusive<c10d::TCPStore>(options.master_addr, store_options);
  } catch (const std::exception& e) {
    if (host_server)
      fail("E_DISTRIBUTED", "rank 0 could not start the rendezvous store on port " + std::to_string(options.master_port) +
                                " (" + brief_what(e) + "). Is the port in use by another run? Choose another MASTER_PORT.");
    fail("E_DISTRIBUTED", "rank " + std::to_string(options.rank) + " could not reach rank 0's rendezvous store at " + store_address(options) +
                              " within " + options.timeout_text() + " (" + brief_what(e) +
                              "). Is rank 0 running, and do MASTER_ADDR and MASTER_PORT point at it?");
  }
}

void join_ranks(c10d::Store& store, const DistributedOptions& options) {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  std::string me = std::string(host) + " pid " + std::to_string(getpid());
  store.set(join_key(options.rank), std::vector<uint8_t>(me.begin(), me.end()));

  std::vector<std::string> keys;
  for (int64_t r = 0; r < options.world_size; ++r) keys.push_back(join_key(r));
  // Poll instead of one blocking wait, so that a timeout can list who is missing.
  auto deadline = std::chrono::steady_clock::now() + options.timeout();
  while (!store.check(keys)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string missing;
      int64_t count = 0;
      for (int64_t r = 0; r < options.world_size; ++r) {
        if (store.check({join_key(r)})) continue;
        if (count < 16) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
        ++count;
      }
      if (count > 16) missing += " and " + std::to_string(count - 16) + " more";
      fail("E_DISTRIBUTED", std::string(count == 1 ? "rank " : "ranks ") + missing + " did not join the run within " + options.timeout_text() + " (rendezvous at " +
                                store_address(options) + ", world size " + std::to_string(options.world_size) +
                                "). Check that every rank was started with the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE.");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace lcmd
