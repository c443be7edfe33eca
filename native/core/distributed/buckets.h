// Collectives over many tensors in flat buckets: several small tensors are copied into one contiguous buffer of at
// most bucket_bytes, so a model with hundreds of parameters costs a few large collectives instead of hundreds of
// small ones (each collective has a fixed latency). All buckets are launched before the first is waited for.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/distributed/process_group.h"

namespace lcmd {

constexpr int64_t kDefaultBucketBytes = 25 << 20;  // PyTorch DDP's default

// Indices of `tensors` grouped in order into buckets of at most bucket_bytes (one dtype and device per bucket); a
// tensor larger than bucket_bytes is a bucket of its own.
std::vector<std::vector<size_t>> plan_buckets(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes);

// Replaces each tensor by its mean over the ranks (sum, then divide by the world size).
void allreduce_mean_bucketed(ProcessGroup& group, const std::vector<at::Tensor>& tensors, int64_t bucket_bytes, const std::string& what);

// Replaces each tensor by rank `root`'s copy.
void broadcast_bucketed(ProcessGroup& group, const std::vector<at::Tensor>& tensors, int64_t root, int64_t bucket_bytes,
                        const std::string& what);

}  // namespace lcmd
