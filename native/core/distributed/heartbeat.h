// A background thread per rank that bumps a counter in the rendezvous store every interval and publishes which
// collective the rank last entered. When a collective fails, the surviving ranks read these to name the rank that
// died or hung (core/distributed_diagnosis.h). It uses its own store connection, so it never queues behind a
// blocked store call of the main thread, and it stops quietly when the store goes away.
#pragma once
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "core/distributed/c10d_compat.h"

namespace lcmd {

std::string heartbeat_key(int64_t rank);
std::string operation_key(int64_t rank);

class Heartbeat {
 public:
  Heartbeat(c10::intrusive_ptr<c10d::Store> store, int64_t rank, std::chrono::milliseconds interval);
  ~Heartbeat();
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

  // The sequence number of the collective this rank is entering (1, 2, ...), published with the next beat.
  void set_operation(int64_t sequence) { operation_.store(sequence); }
  std::chrono::milliseconds interval() const { return interval_; }

 private:
  void beat();
  void run();

  c10::intrusive_ptr<c10d::Store> store_;
  int64_t rank_;
  std::chrono::milliseconds interval_;
  std::atomic<int64_t> operation_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace lcmd
