// After a collective fails or times out: which rank is to blame? Reads every rank's heartbeat counter and last
// collective from the store, waits a few heartbeat intervals, reads again, and names the ranks that stopped
// beating, closed their group, or never reached this collective. Bounded: about three intervals plus store reads.
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <string>

#include "core/distributed/c10d_compat.h"
#include "core/distributed/options.h"

namespace lcmd {

// A sentence such as "rank 1 stopped responding (...)". `operation` is the sequence number of the failed collective.
std::string diagnose_peers(c10d::Store& store, const DistributedOptions& options, int64_t operation, std::chrono::milliseconds interval);

}  // namespace lcmd
