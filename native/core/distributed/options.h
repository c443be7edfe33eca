// How one process joins a data-parallel run: its rank, the world, where rank 0's rendezvous store listens, the
// backend, and how long any wait may last (torchrun's variables map onto these fields one to one).
#pragma once
#include <chrono>
#include <cstdint>
#include <sstream>
#include <string>

#include "core/base/error.h"

namespace lcmd {

struct DistributedOptions {
  int64_t rank = 0;
  int64_t world_size = 1;
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 29500;
  std::string backend = "gloo";  // gloo (CPU tensors) | nccl (CUDA tensors)
  std::string device = "cpu";    // where collectives run: "cpu" for gloo, "cuda:<local rank>" for nccl
  double timeout_seconds = 300;  // the longest any rendezvous, collective or store wait may take

  std::chrono::milliseconds timeout() const { return std::chrono::milliseconds(int64_t(timeout_seconds * 1000)); }

  // "5 s", "2.5 s": for messages
  std::string timeout_text() const {
    std::ostringstream out;
    out << timeout_seconds << " s";
    return out.str();
  }

  void validate() const {
    LCMD_CHECK(world_size >= 1, "E_CONFIG", "the world size must be at least 1, got " + std::to_string(world_size));
    LCMD_CHECK(rank >= 0 && rank < world_size, "E_CONFIG",
               "the rank must be in [0, " + std::to_string(world_size - 1) + "] for a world of " + std::to_string(world_size) +
                   ", got " + std::to_string(rank));
    LCMD_CHECK(master_port >= 1 && master_port <= 65535, "E_CONFIG",
               "the master port must be in [1, 65535], got " + std::to_string(master_port));
    LCMD_CHECK(!master_addr.empty(), "E_CONFIG", "the master address is empty; set MASTER_ADDR to rank 0's host name or IP address");
    LCMD_CHECK(backend == "gloo" || backend == "nccl", "E_CONFIG", "the backend must be 'gloo' or 'nccl', got '" + backend + "'");
    LCMD_CHECK(timeout_seconds > 0 && timeout_seconds <= 7 * 24 * 3600, "E_CONFIG",
               "the timeout must be a positive number of seconds (at most a week), got " + timeout_text());
  }
};

}  // namespace lcmd
