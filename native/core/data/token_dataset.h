// A dataset of token grids (and optional class labels) for training: a deterministic per-epoch shuffle from
// (seed, epoch), rank sharding of each global batch, int64 batches gathered straight from a memory map,
// prefetch on a background thread with a bounded queue, a held-out split, and a resumable position.
#pragma once
#include <torch/torch.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/formats/npy.h"

namespace lcmd {

// Rows of integers: a memory-mapped .npy file or a tensor in memory. Row i is row_length() contiguous values.
struct IntegerRows {
  std::shared_ptr<const void> owner;  // keeps the mapping or the tensor alive
  const uint8_t* data = nullptr;
  NpyDType type = NpyDType::Int64;
  std::vector<int64_t> shape;  // [n, ...]
  std::string name;            // for messages: the file path, or "tokens"

  static IntegerRows from_npy(const std::string& path);
  static IntegerRows from_tensor(const at::Tensor& tensor, const std::string& name);
  int64_t rows() const { return shape.empty() ? 0 : shape[0]; }
  int64_t row_length() const;
  // Copies the rows `indices` into `out` ([indices.size(), row_length()] int64, contiguous).
  void gather(const int64_t* indices, int64_t count, int64_t* out) const;
};

struct DatasetPosition {
  int64_t epoch = 0;
  int64_t step = 0;  // batches of this epoch already consumed
};

struct TokenBatch {
  at::Tensor tokens;  // int64 [b, N]
  at::Tensor labels;  // int64 [b], undefined without labels
  DatasetPosition position;  // where this batch was: next() after it continues at step + 1
};

struct TokenDatasetOptions {
  int64_t batch_size = 0;  // global batch size: the sum over ranks
  uint64_t seed = 0;
  int64_t heldout = 0;     // the last `heldout` examples are never trained on
  int rank = 0;
  int world_size = 1;
  int64_t vocab_size = 0;  // > 0: every token id must be below it (checked once at open)
  int64_t num_classes = 0; // > 0: every label must be below it
  int prefetch = 2;        // batches prepared ahead on the background thread
};

// The permutation of [0, n) for an epoch: Fisher-Yates driven by SplitMix64 seeded from (seed, epoch), so it is
// the same on every platform, libtorch version and world size.
std::vector<int64_t> epoch_permutation(uint64_t seed, int64_t epoch, int64_t n);

class TokenDataset {
 public:
  // Validates shapes and options and range-checks every token (and label) in one pass before returning.
  TokenDataset(IntegerRows tokens, std::optional<IntegerRows> labels, TokenDatasetOptions options);
  ~TokenDataset();
  TokenDataset(const TokenDataset&) = delete;
  TokenDataset& operator=(const TokenDataset&) = delete;

  // This rank's next batch ([batch_size / world_size, N]); waits for the prefetch thread. E_DISPOSED once closed.
  TokenBatch next();
  DatasetPosition position() const;  // of the batch next() returns next
  void seek(DatasetPosition position);
  // Stops and joins the prefetch thread; wakes a waiting next(). Idempotent.
  void close();

  int64_t size() const { return tokens_.rows(); }
  int64_t train_size() const { return size() - heldout_; }
  int64_t heldout_size() const { return heldout_; }
  int64_t steps_per_epoch() const { return train_size() / options_.batch_size; }
  int64_t local_batch_size() const { return options_.batch_size / options_.world_size; }
  int64_t sequence_length() const { return tokens_.row_length(); }
  std::vector<int64_t> grid_shape() const;  // tokens' shape without the first dimension
  int64_t max_token() const { return max_token_; }
  int64_t max_label() const { return max_label_; }
  bool has_labels() const { return labels_.has_value(); }
  const TokenDatasetOptions& options() const { return options_; }

  // Held-out examples in file order, in chunks of `batch_size` (global); each rank gets its share of a chunk.
  int64_t heldout_batch_count(int64_t batch_size) const;
  TokenBatch heldout_batch(int64_t index, int64_t batch_size) const;

 private:
  TokenBatch make_batch(DatasetPosition position, std::vector<int64_t>& permutation, int64_t& permutation_epoch) const;
  TokenBatch gather(const int64_t* indices, int64_t count) const;
  DatasetPosition advance(DatasetPosition p) const;
  void produce();

  IntegerRows tokens_;
  std::optional<IntegerRows> labels_;
  TokenDatasetOptions options_;
  int64_t heldout_ = 0;
  int64_t max_token_ = 0;
  int64_t max_label_ = -1;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<TokenBatch> queue_;
  DatasetPosition consumed_;   // position of the next batch next() returns
  DatasetPosition produced_;   // position of the next batch the thread makes
  uint64_t generation_ = 0;    // bumped by seek(): batches made before it are dropped
  bool closed_ = false;
  std::exception_ptr failure_;
  std::thread worker_;
};

}  // namespace lcmd
