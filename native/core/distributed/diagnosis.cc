#include "core/distributed/diagnosis.h"

#include <sstream>
#include <thread>
#include <vector>

#include "core/distributed/error.h"
#include "core/distributed/heartbeat.h"
#include "core/distributed/rendezvous.h"

namespace lcmd {

namespace {

struct PeerState {
  int64_t beats = 0;
  int64_t operation = 0;
  bool left = false;
};

std::vector<PeerState> read_peers(c10d::Store& store, int64_t world_size) {
  std::vector<PeerState> peers(static_cast<size_t>(world_size));
  for (int64_t r = 0; r < world_size; ++r) {
    auto& p = peers[size_t(r)];
    p.beats = store.add(heartbeat_key(r), 0);
    auto op = store.get(operation_key(r));
    p.operation = std::stoll(std::string(op.begin(), op.end()));
    p.left = store.check({left_key(r)});
  }
  return peers;
}

std::string rank_list(const std::vector<int64_t>& ranks) {
  std::string out = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size() && i < 16; ++i) out += (i ? ", " : "") + std::to_string(ranks[i]);
  if (ranks.size() > 16) out += " and " + std::to_string(ranks.size() - 16) + " more";
  return out;
}

}  // namespace

std::string diagnose_peers(c10d::Store& store, const DistributedOptions& options, int64_t operation, std::chrono::milliseconds interval) {
  auto wait = interval * 5 / 2;
  std::vector<PeerState> before, after;
  try {
    before = read_peers(store, options.world_size);
    std::this_thread::sleep_for(wait);
    after = read_peers(store, options.world_size);
  } catch (const std::exception& e) {
    if (options.rank != 0)
      return "rank 0 is unreachable: its rendezvous store at " + store_address(options) +
             " does not answer, so its process exited, crashed, or its machine is down (" + brief_what(e) + ")";
    return std::string("the rendezvous store failed (") + brief_what(e) + ")";
  }

  std::vector<int64_t> stopped, left, behind, ahead;
  for (int64_t r = 0; r < options.world_size; ++r) {
    if (r == options.rank) continue;
    const auto& a = after[size_t(r)];
    if (a.left) left.push_back(r);
    else if (a.beats == before[size_t(r)].beats) stopped.push_back(r);
    else if (a.operation < operation) behind.push_back(r);
    else if (a.operation > operation) ahead.push_back(r);
  }
  std::ostringstream out;
  auto sep = [&] {
    if (out.tellp() > 0) out << "; ";
  };
  double waited = std::chrono::duration<double>(wait).count();
  if (!stopped.empty())
    out << rank_list(stopped) << " stopped responding (no heartbeat for " << waited
        << " s: the process exited, was killed, or is frozen)";
  if (!left.empty()) {
    sep();
    out << rank_list(left) << " closed the process group while this rank was in a collective";
  }
  for (int64_t r : behind) {
    sep();
    out << "rank " << r << " is alive but has not reached this collective (it is at collective #" << after[size_t(r)].operation
        << ", this rank at #" << operation << "): it is stuck, or the ranks run different numbers of steps";
  }
  for (int64_t r : ahead) {
    sep();
    out << "rank " << r << " is at a later collective (#" << after[size_t(r)].operation << ", this rank at #" << operation
        << "): the ranks issue different sequences of collectives";
  }
  if (out.tellp() == 0) out << "every other rank is alive and reached this collective; the connection between ranks failed";
  return out.str();
}

}  // namespace lcmd
