#include "core/data/token_dataset.h"

#include <algorithm>

#include "core/base/error.h"

namespace lcmd {

namespace {

uint64_t splitmix64(uint64_t& state) {
  state += 0x9E3779B97F4A7C15ULL;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Unbiased integer in [0, bound): reject the low values that would make `x % bound` favour small results.
uint64_t uniform_below(uint64_t& state, uint64_t bound) {
  uint64_t threshold = (0 - bound) % bound;
  while (true) {
    uint64_t x = splitmix64(state);
    if (x >= threshold) return x % bound;
  }
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

std::vector<int64_t> epoch_permutation(uint64_t seed, int64_t epoch, int64_t n) {
  // One stream per (seed, epoch): mix the seed, then offset by the epoch through another odd constant.
  uint64_t state = seed;
  state = splitmix64(state) ^ (static_cast<uint64_t>(epoch) * 0xD1B54A32D192ED03ULL);
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[i] = i;
  for (int64_t i = n - 1; i > 0; --i) {
    auto j = static_cast<int64_t>(uniform_below(state, static_cast<uint64_t>(i) + 1));
    std::swap(perm[i], perm[j]);
  }
  return perm;
}

IntegerRows IntegerRows::from_npy(const std::string& path) {
  auto array = std::make_shared<NpyArray>(path);
  IntegerRows rows;
  rows.data = array->data();
  rows.type = array->header().dtype;
  rows.shape = array->header().shape;
  rows.name = "'" + path + "'";
  rows.owner = array;
  return rows;
}

IntegerRows IntegerRows::from_tensor(const at::Tensor& tensor, const std::string& name) {
  LCMD_CHECK(tensor.defined(), "E_USAGE", name + " is undefined");
  auto held = std::make_shared<at::Tensor>(tensor.detach().to(at::kCPU).contiguous());
  IntegerRows rows;
  rows.type = npy_dtype_of(held->scalar_type());
  LCMD_CHECK(npy_is_integer(rows.type), "E_DTYPE",
             "expected an integer tensor for " + name + ", got " + std::string(c10::toString(held->scalar_type())));
  rows.data = static_cast<const uint8_t*>(held->data_ptr());
  rows.shape = held->sizes().vec();
  rows.name = name;
  rows.owner = held;
  return rows;
}

int64_t IntegerRows::row_length() const {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

void IntegerRows::gather(const int64_t* indices, int64_t count, int64_t* out) const {
  int64_t length = row_length();
  size_t row_bytes = static_cast<size_t>(length) * npy_itemsize(type);
  for (int64_t i = 0; i < count; ++i) npy_copy_to_int64(type, data + static_cast<size_t>(indices[i]) * row_bytes, length, out + i * length);
}

TokenDataset::TokenDataset(IntegerRows tokens, std::optional<IntegerRows> labels, TokenDatasetOptions options)
    : tokens_(std::move(tokens)), labels_(std::move(labels)), options_(options) {
  LCMD_CHECK(npy_is_integer(tokens_.type), "E_DTYPE",
             "tokens " + tokens_.name + " have dtype " + npy_dtype_name(tokens_.type) + "; token ids must be integers");
  LCMD_CHECK(tokens_.shape.size() == 2 || tokens_.shape.size() == 3, "E_SHAPE",
             "expected tokens of shape [n, H, W] or [n, N], got " + shape_text(tokens_.shape) + " in " + tokens_.name);
  LCMD_CHECK(tokens_.row_length() > 0, "E_SHAPE", "tokens " + tokens_.name + " have empty rows: shape " + shape_text(tokens_.shape));
  LCMD_CHECK(options_.world_size >= 1 && options_.rank >= 0 && options_.rank < options_.world_size, "E_CONFIG",
             "expected 0 <= rank < worldSize, got rank " + std::to_string(options_.rank) + " of " + std::to_string(options_.world_size));
  LCMD_CHECK(options_.batch_size > 0 && options_.batch_size % options_.world_size == 0, "E_CONFIG",
             "the global batch size " + std::to_string(options_.batch_size) + " must be a positive multiple of the world size " +
                 std::to_string(options_.world_size));
  LCMD_CHECK(options_.prefetch >= 1 && options_.prefetch <= 64, "E_CONFIG", "prefetch must be between 1 and 64");
  LCMD_CHECK(options_.heldout >= 0 && options_.heldout < size(), "E_CONFIG",
             "heldout must be between 0 and " + std::to_string(size() - 1) + " (the dataset has " + std::to_string(size()) +
                 " examples), got " + std::to_string(options_.heldout));
  heldout_ = options_.heldout;
  LCMD_CHECK(train_size() >= options_.batch_size, "E_DATA",
             "the training split holds " + std::to_string(train_size()) + " examples, fewer than one global batch of " +
                 std::to_string(options_.batch_size) + ": lower the batch size or the held-out count");
  if (labels_) {
    LCMD_CHECK(npy_is_integer(labels_->type), "E_DTYPE",
               "labels " + labels_->name + " have dtype " + npy_dtype_name(labels_->type) + "; labels must be integers");
    LCMD_CHECK(labels_->shape.size() == 1 && labels_->rows() == size(), "E_SHAPE",
               "expected labels of shape [" + std::to_string(size()) + "] (one per example), got " + shape_text(labels_->shape) +
                   " in " + labels_->name);
  }

  // One pass over all the data now, so a bad id fails at open, not hours into training.
  int64_t count = tokens_.rows() * tokens_.row_length();
  npy_check_index_range(tokens_.type, tokens_.data, count, options_.vocab_size, "tokens " + tokens_.name, tokens_.row_length());
  max_token_ = npy_max_value(tokens_.type, tokens_.data, count);
  if (labels_) {
    npy_check_index_range(labels_->type, labels_->data, labels_->rows(), options_.num_classes, "labels " + labels_->name, 0);
    max_label_ = npy_max_value(labels_->type, labels_->data, labels_->rows());
  }
  worker_ = std::thread([this] { produce(); });
}

TokenDataset::~TokenDataset() { close(); }

void TokenDataset::close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    queue_.clear();
  }
  changed_.notify_all();
  if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id()) worker_.join();
}

std::vector<int64_t> TokenDataset::grid_shape() const { return {tokens_.shape.begin() + 1, tokens_.shape.end()}; }

DatasetPosition TokenDataset::advance(DatasetPosition p) const {
  if (++p.step >= steps_per_epoch()) {
    p.step = 0;
    ++p.epoch;
  }
  return p;
}

TokenBatch TokenDataset::gather(const int64_t* indices, int64_t count) const {
  TokenBatch batch;
  batch.tokens = at::empty({count, sequence_length()}, at::kLong);
  tokens_.gather(indices, count, batch.tokens.data_ptr<int64_t>());
  if (labels_) {
    batch.labels = at::empty({count}, at::kLong);
    labels_->gather(indices, count, batch.labels.data_ptr<int64_t>());
  }
  return batch;
}

TokenBatch TokenDataset::make_batch(DatasetPosition position, std::vector<int64_t>& permutation, int64_t& permutation_epoch) const {
  if (permutation_epoch != position.epoch) {
    permutation = epoch_permutation(options_.seed, position.epoch, train_size());
    permutation_epoch = position.epoch;
  }
  // Rank r takes the r-th contiguous slice of the global batch, so all ranks together see the 1-process batch.
  int64_t local = local_batch_size();
  int64_t start = position.step * options_.batch_size + options_.rank * local;
  TokenBatch batch = gather(permutation.data() + start, local);
  batch.position = position;
  return batch;
}

void TokenDataset::produce() {
  std::vector<int64_t> permutation;
  int64_t permutation_epoch = -1;
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    changed_.wait(lock, [&] { return closed_ || static_cast<int>(queue_.size()) < options_.prefetch; });
    if (closed_) return;
    DatasetPosition position = produced_;
    uint64_t generation = generation_;
    lock.unlock();
    TokenBatch batch;
    std::exception_ptr failure;
    try {
      batch = make_batch(position, permutation, permutation_epoch);
    } catch (...) {
      failure = std::current_exception();
    }
    lock.lock();
    if (closed_) return;
    if (generation != generation_) continue;  // a seek() happened while this batch was being made
    if (failure) {
      failure_ = failure;
      changed_.notify_all();
      return;
    }
    queue_.push_back(std::move(batch));
    produced_ = advance(position);
    changed_.notify_all();
  }
}

TokenBatch TokenDataset::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return closed_ || failure_ || !queue_.empty(); });
  if (closed_) fail("E_DISPOSED", "this dataset was disposed and can no longer be used");
  if (failure_ && queue_.empty()) std::rethrow_exception(failure_);
  TokenBatch batch = std::move(queue_.front());
  queue_.pop_front();
  consumed_ = advance(batch.position);
  changed_.notify_all();
  return batch;
}

DatasetPosition TokenDataset::position() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return consumed_;
}

void TokenDataset::seek(DatasetPosition position) {
  LCMD_CHECK(position.epoch >= 0 && position.step >= 0 && position.step < steps_per_epoch(), "E_RANGE",
             "expected a dataset position with epoch >= 0 and 0 <= step < " + std::to_string(steps_per_epoch()) +
                 " (the steps per epoch at this batch size), got epoch " + std::to_string(position.epoch) + ", step " +
                 std::to_string(position.step));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    LCMD_CHECK(!closed_, "E_DISPOSED", "this dataset was disposed and can no longer be used");
    queue_.clear();
    consumed_ = produced_ = position;
    ++generation_;
  }
  changed_.notify_all();
}

int64_t TokenDataset::heldout_batch_count(int64_t batch_size) const {
  LCMD_CHECK(batch_size > 0, "E_RANGE", "the held-out batch size must be positive, got " + std::to_string(batch_size));
  return (heldout_ + batch_size - 1) / batch_size;
}

TokenBatch TokenDataset::heldout_batch(int64_t index, int64_t batch_size) const {
  int64_t count = heldout_batch_count(batch_size);
  LCMD_CHECK(index >= 0 && index < count, "E_RANGE",
             "held-out batch " + std::to_string(index) + " does not exist; there are " + std::to_string(count));
  int64_t begin = train_size() + index * batch_size;
  int64_t length = std::min(batch_size, size() - begin);
  // Even shares of the chunk per rank; their union is the whole chunk.
  int64_t world = options_.world_size, rank = options_.rank;
  int64_t from = begin + rank * length / world, to = begin + (rank + 1) * length / world;
  std::vector<int64_t> indices;
  for (int64_t i = from; i < to; ++i) indices.push_back(i);
  TokenBatch batch = gather(indices.data(), static_cast<int64_t>(indices.size()));
  batch.position = {-1, index};
  return batch;
}

}  // namespace lcmd
