#include "core/distributed/process_group.h"

#include <algorithm>
#include <chrono>

#include "core/base/device.h"
#include "core/distributed/backend.h"
#include "core/distributed/diagnosis.h"
#include "core/distributed/error.h"
#include "core/distributed/heartbeat.h"
#include "core/distributed/rendezvous.h"
#include "core/base/error.h"

namespace lcmd {

// Members are destroyed bottom-up: heartbeat, backend, then the stores (rank 0's store server last).
struct ProcessGroup::Connection {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Store> heartbeat_store;
  c10::intrusive_ptr<compat::CollectiveBackend> backend;
  std::unique_ptr<Heartbeat> heartbeat;
};

namespace {

// Often enough that a dead rank is named within a few seconds, rarely enough to cost nothing.
std::chrono::milliseconds heartbeat_interval(const DistributedOptions& options) {
  return std::clamp(options.timeout() / 4, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
}

c10::Device collective_device(const DistributedOptions& options) {
  if (options.backend == "gloo") return c10::Device(c10::kCPU);
  auto device = parse_device(options.device);
  LCMD_CHECK(device.is_cuda(), "E_CONFIG", "the 'nccl' backend runs collectives on a GPU; got device '" + options.device + "'");
  return device;
}

}  // namespace

std::shared_ptr<ProcessGroup> ProcessGroup::create(const DistributedOptions& options) {
  options.validate();
  require_backend(options.backend);
  auto device = collective_device(options);
  auto connection = std::make_shared<Connection>();
  connection->store = connect_store(options, options.rank == 0);
  connection->heartbeat_store = connect_store(options, false);
  connection->heartbeat = std::make_unique<Heartbeat>(connection->heartbeat_store, options.rank, heartbeat_interval(options));
  join_ranks(*connection->store, options);
  connection->backend = create_backend(connection->store, options);
  return std::shared_ptr<ProcessGroup>(new ProcessGroup(options, device, std::move(connection)));
}

ProcessGroup::ProcessGroup(const DistributedOptions& options, c10::Device device, std::shared_ptr<Connection> connection)
    : options_(options), device_(device), connection_(std::move(connection)) {}

ProcessGroup::~ProcessGroup() { close(); }

void ProcessGroup::close() {
  std::shared_ptr<Connection> connection;
  {
    std::lock_guard<std::mutex> lock(state_mutex_);
    connection.swap(connection_);
  }
  if (!connection) return;
  try {
    connection->store->set(left_key(options_.rank), std::vector<uint8_t>{1});
  } catch (...) {
    // rank 0 (the store) may be gone already; leaving needs no acknowledgement
  }
  std::unique_lock<std::mutex> idle(collective_mutex_, std::try_to_lock);
  bool healthy = [&] {
    std::lock_guard<std::mutex> lock(state_mutex_);
    return broken_.empty();
  }();
  if (idle.owns_lock() && healthy) {
    try {
      compat::shutdown_backend(*connection->backend);
    } catch (...) {
      // best effort: the backend's destructor cleans up too
    }
  }
  // A collective still in flight on another thread holds its own reference; the last one out tears down.
}

bool ProcessGroup::closed() const {
  std::lock_guard<std::mutex> lock(state_mutex_);
  return !connection_;
}

std::shared_ptr<ProcessGroup::Connection> ProcessGroup::connection(const std::string& what) const {
  std::lock_guard<std::mutex> lock(state_mutex_);
  LCMD_CHECK(broken_.empty(), "E_DISTRIBUTED", "cannot run " + what + ": the process group failed earlier: " + broken_);
  LCMD_CHECK(connection_, "E_DISPOSED", "cannot run " + what + ": this process group was closed");
  return connection_;
}

void ProcessGroup::run(const std::string& what, const std::vector<at::Tensor>& tensors, const Launch& launch, Wait wait) {
  for (const auto& t : tensors)
    LCMD_CHECK(t.device() == device_ && t.is_contiguous(), "E_NATIVE",
               what + ": collective buffers must be contiguous tensors on " + device_.str() + ", got one on " + t.device().str());
  auto connection = this->connection(what);
  std::lock_guard<std::mutex> serial(collective_mutex_);
  int64_t operation = ++operations_;
  connection->heartbeat->set_operation(operation);
  auto deadline = std::chrono::steady_clock::now() + options_.timeout();
  std::string cause;
  try {
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (size_t i = 0; i < tensors.size(); ++i) works.push_back(launch(*connection->backend, i));
    for (auto& work : works) {
      if (wait == Wait::Stream && options_.backend == "nccl") {
        work->wait();  // orders the current stream after the collective; the host goes on
        continue;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (!work->wait(std::max(left, std::chrono::milliseconds(1)))) cause = "timed out after " + options_.timeout_text();
      if (!cause.empty()) break;
    }
  } catch (const std::exception& e) {
    cause = brief_what(e);
  }
  if (cause.empty()) return;
  std::string diagnosis = diagnose_peers(*connection->store, options_, operation, connection->heartbeat->interval());
  std::string message = "rank " + std::to_string(options_.rank) + ": " + what + " failed: " + diagnosis + " [" + options_.backend + ": " + cause + "]";
  {
    std::lock_guard<std::mutex> lock(state_mutex_);
    if (broken_.empty()) broken_ = message;
  }
  fail("E_DISTRIBUTED", message);
}

void ProcessGroup::allreduce(const std::vector<at::Tensor>& tensors, Reduction op, const std::string& what, Wait wait) {
  LCMD_CHECK(op != Reduction::Avg || options_.backend == "nccl", "E_NATIVE", what + ": only NCCL averages in the collective; use allreduce_mean");
  run(what, tensors, [&](compat::CollectiveBackend& backend, size_t i) {
    std::vector<at::Tensor> one{tensors[i]};
    c10d::AllreduceOptions opts;
    opts.reduceOp = op == Reduction::Max   ? c10d::ReduceOp::MAX
                    : op == Reduction::Min ? c10d::ReduceOp::MIN
                    : op == Reduction::Avg ? c10d::ReduceOp::AVG
                                           : c10d::ReduceOp::SUM;
    opts.timeout = options_.timeout();
    return backend.allreduce(one, opts);
  }, wait);
}

void ProcessGroup::allreduce_mean(const std::vector<at::Tensor>& tensors, const std::string& what, Wait wait) {
  if (options_.backend == "nccl") return allreduce(tensors, Reduction::Avg, what, wait);
  allreduce(tensors, Reduction::Sum, what, wait);
  for (const auto& t : tensors) t.div_(double(options_.world_size));
}

void ProcessGroup::broadcast(const std::vector<at::Tensor>& tensors, int64_t root, const std::string& what) {
  LCMD_CHECK(root >= 0 && root < options_.world_size, "E_RANGE",
             "the broadcast root must be a rank in [0, " + std::to_string(options_.world_size - 1) + "], got " + std::to_string(root));
  run(what, tensors, [&](compat::CollectiveBackend& backend, size_t i) {
    std::vector<at::Tensor> one{tensors[i]};
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    opts.timeout = options_.timeout();
    return backend.broadcast(one, opts);
  });
}

void ProcessGroup::barrier(const std::string& what) {
  // A one-element all-reduce on the group's device: the backends' own barrier guesses the GPU for nccl.
  allreduce_sum({torch::zeros({1}, torch::TensorOptions().device(device_))}, what);
}

}  // namespace lcmd
