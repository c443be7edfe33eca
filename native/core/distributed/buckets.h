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

// Replaces each tensor by its mean over the ranks.
void allreduce_mean_bucketed(ProcessGroup& group, const std::vector<at::Tensor>& tensors, int64_t bucket_bytes, const std::string& what,
                             Wait wait = Wait::Host);

// Gradients as views into persistent flat buffers, as PyTorch DDP's gradient_as_bucket_view: the buffers are
// allocated once; before each backward every parameter's grad becomes its (zeroed) view into one, so backward
// accumulates straight into the buffers and the all-reduce runs on them in place, with no flatten and unflatten copies
// and no allocation per step.
class GradientBuckets {
 public:
  // Whether the parameters can have their gradients in buffers on `device` (all there, contiguous).
  static bool applies(const std::vector<at::Tensor>& params, c10::Device device);
  GradientBuckets(const std::vector<at::Tensor>& params, c10::Device device, int64_t bucket_bytes);

  // Zeroes the buffers and points each parameter's grad at its view.
  void attach(std::vector<at::Tensor>& params) const;
  // Averages in place across the ranks, waited for by the stream (Wait::Stream): `grads` starts with the parameters'
  // grads in attach's order (a grad that is no longer its view is copied in and back), and tensors after them go
  // through allreduce_mean_bucketed.
  void allreduce_mean(ProcessGroup& group, std::vector<at::Tensor>& grads, int64_t bucket_bytes, const std::string& what) const;

  const std::vector<at::Tensor>& buffers() const { return flats_; }

 private:
  std::vector<at::Tensor> flats_, views_;
};

// Replaces each tensor by rank `root`'s copy.
void broadcast_bucketed(ProcessGroup& group, const std::vector<at::Tensor>& tensors, int64_t root, int64_t bucket_bytes,
                        const std::string& what);

}  // namespace lcmd
