// One process's membership in a data-parallel run: the rendezvous store, the heartbeat, and the c10d backend, with
// collectives that never wait longer than the timeout. When a collective fails (a peer died, hung, or left), the
// error names the rank to blame (core/distributed_diagnosis.h) and the group refuses further collectives.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/distributed/c10d_compat.h"
#include "core/distributed/options.h"

namespace lcmd {

enum class Reduction { Sum, Max, Min, Avg };

// How a collective is waited for. Host: the caller blocks until it is done, up to the timeout, and a failure is
// diagnosed (which rank died or hung). Stream: on NCCL the current CUDA stream is ordered after it and the host goes
// on (no host wait, no polling), so a hung collective is ended by NCCL's watchdog after the timeout, which takes the
// process down; Gloo always waits on the host.
enum class Wait { Host, Stream };

class ProcessGroup {
 public:
  // Connects to (rank 0: hosts) the store, waits until every rank has joined and connects the backend; blocks up to
  // the timeout for each of these.
  static std::shared_ptr<ProcessGroup> create(const DistributedOptions& options);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int64_t rank() const { return options_.rank; }
  int64_t world_size() const { return options_.world_size; }
  const DistributedOptions& options() const { return options_; }
  // Where collective buffers must live: CPU for gloo, the rank's GPU for nccl.
  c10::Device device() const { return device_; }

  // Collectives. Every rank calls them in the same order with the same shapes and dtypes; `what` names the call in
  // errors. Tensors must be contiguous and on device(). One c10d collective per tensor, all launched before the
  // first is waited for, so several buffers pipeline. Calls from several threads are serialised.
  void allreduce(const std::vector<at::Tensor>& tensors, Reduction op, const std::string& what, Wait wait = Wait::Host);
  void allreduce_sum(const std::vector<at::Tensor>& tensors, const std::string& what) { allreduce(tensors, Reduction::Sum, what); }
  // The mean over the ranks: NCCL averages in the collective itself; Gloo, which has no average, sums and divides.
  void allreduce_mean(const std::vector<at::Tensor>& tensors, const std::string& what, Wait wait = Wait::Host);
  void broadcast(const std::vector<at::Tensor>& tensors, int64_t root, const std::string& what);
  void barrier(const std::string& what);

  // Leaves the group: tells the store, stops the heartbeat, releases the backend (rank 0: the store too). Idempotent.
  void close();
  bool closed() const;

 private:
  struct Connection;
  using Launch = std::function<c10::intrusive_ptr<c10d::Work>(compat::CollectiveBackend&, size_t)>;

  ProcessGroup(const DistributedOptions& options, c10::Device device, std::shared_ptr<Connection> connection);
  std::shared_ptr<Connection> connection(const std::string& what) const;
  void run(const std::string& what, const std::vector<at::Tensor>& tensors, const Launch& launch, Wait wait = Wait::Host);

  DistributedOptions options_;
  c10::Device device_;
  mutable std::mutex state_mutex_;
  std::shared_ptr<Connection> connection_;
  std::string broken_;  // the first collective failure; every later call repeats it
  std::mutex collective_mutex_;
  int64_t operations_ = 0;  // collectives entered, published by the heartbeat
};

}  // namespace lcmd
