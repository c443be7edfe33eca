#include "core/distributed/heartbeat.h"

#include <vector>

namespace lcmd {

std::string heartbeat_key(int64_t rank) { return "lcmd/heartbeat/" + std::to_string(rank); }
std::string operation_key(int64_t rank) { return "lcmd/operation/" + std::to_string(rank); }

Heartbeat::Heartbeat(c10::intrusive_ptr<c10d::Store> store, int64_t rank, std::chrono::milliseconds interval)
    : store_(std::move(store)), rank_(rank), interval_(interval) {
  beat();  // the keys exist before anyone can look for them
  thread_ = std::thread([this] { run(); });
}

Heartbeat::~Heartbeat() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Heartbeat::beat() {
  auto op = std::to_string(operation_.load());
  store_->set(operation_key(rank_), std::vector<uint8_t>(op.begin(), op.end()));
  store_->add(heartbeat_key(rank_), 1);
}

void Heartbeat::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!wake_.wait_for(lock, interval_, [this] { return stop_; })) {
    lock.unlock();
    try {
      beat();
    } catch (...) {
      // The store is gone (rank 0 exited) or unreachable: the collectives will report it; beating is pointless.
      return;
    }
    lock.lock();
  }
}

}  // namespace lcmd
