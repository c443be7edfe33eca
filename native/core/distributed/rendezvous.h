// Rendezvous through c10d::TCPStore: rank 0 hosts the store, every rank connects to it, announces itself and waits
// until all ranks have. Every wait is bounded by the options' timeout, and a timeout names the missing ranks.
#pragma once
#include <torch/torch.h>

#include <string>

#include "core/distributed/c10d_compat.h"
#include "core/distributed/options.h"

namespace lcmd {

// Rank 0: starts the store server on master_port and connects to it; other ranks connect to master_addr:master_port,
// retrying until the timeout.
c10::intrusive_ptr<c10d::Store> connect_store(const DistributedOptions& options, bool host_server);

// Every rank writes its join key and waits for the others'. Throws E_DISTRIBUTED naming the ranks that did not join.
void join_ranks(c10d::Store& store, const DistributedOptions& options);

// Store keys shared by the rendezvous and the heartbeat.
std::string join_key(int64_t rank);
std::string left_key(int64_t rank);

// "127.0.0.1:29500", for messages.
std::string store_address(const DistributedOptions& options);

}  // namespace lcmd
