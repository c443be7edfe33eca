#include "core/distributed/buckets.h"

#include "core/base/error.h"

namespace lcmd {

std::vector<std::vector<size_t>> plan_buckets(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes) {
  LCMD_CHECK(bucket_bytes > 0, "E_RANGE", "the bucket size must be positive, got " + std::to_string(bucket_bytes) + " bytes");
  std::vector<std::vector<size_t>> buckets;
  int64_t filled = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    int64_t bytes = t.numel() * int64_t(t.element_size());
    bool starts_new = buckets.empty() || filled + bytes > bucket_bytes;
    if (!starts_new) {
      const auto& first = tensors[buckets.back().front()];
      starts_new = first.scalar_type() != t.scalar_type() || first.device() != t.device();
    }
    if (starts_new) {
      buckets.emplace_back();
      filled = 0;
    }
    buckets.back().push_back(i);
    filled += bytes;
  }
  return buckets;
}

namespace {

// One contiguous buffer on the group's device holding the bucket's tensors back to back. A lone contiguous tensor
// already on that device is used as is: the collective then works in place, with no copies.
at::Tensor flatten(const std::vector<at::Tensor>& tensors, const std::vector<size_t>& bucket, c10::Device device) {
  if (bucket.size() == 1) {
    const auto& t = tensors[bucket.front()];
    if (t.is_contiguous() && t.device() == device) return t.view({-1});
  }
  std::vector<at::Tensor> flat;
  for (size_t i : bucket) flat.push_back(tensors[i].reshape({-1}));
  return torch::cat(flat).to(device);
}

void unflatten(const at::Tensor& flat, const std::vector<at::Tensor>& tensors, const std::vector<size_t>& bucket) {
  if (bucket.size() == 1 && flat.data_ptr() == tensors[bucket.front()].data_ptr()) return;  // reduced in place
  int64_t offset = 0;
  for (size_t i : bucket) {
    auto& t = tensors[i];
    t.copy_(flat.narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
}

template <class Collective>
void bucketed(ProcessGroup& group, const std::vector<at::Tensor>& tensors, int64_t bucket_bytes, Collective collective) {
  torch::NoGradGuard no_grad;
  auto buckets = plan_buckets(tensors, bucket_bytes);
  std::vector<at::Tensor> flats;
  for (const auto& bucket : buckets) flats.push_back(flatten(tensors, bucket, group.device()));
  collective(flats);
  for (size_t b = 0; b < buckets.size(); ++b) unflatten(flats[b], tensors, buckets[b]);
}

}  // namespace

void allreduce_mean_bucketed(ProcessGroup& group, const std::vector<at::Tensor>& tensors, int64_t bucket_bytes, const std::string& what,
                             Wait wait) {
  bucketed(group, tensors, bucket_bytes, [&](std::vector<at::Tensor>& flats) { group.allreduce_mean(flats, what, wait); });
}

bool GradientBuckets::applies(const std::vector<at::Tensor>& params, c10::Device device) {
  for (const auto& p : params)
    if (p.device() != device || !p.is_contiguous()) return false;
  return !params.empty();
}

GradientBuckets::GradientBuckets(const std::vector<at::Tensor>& params, c10::Device device, int64_t bucket_bytes) {
  LCMD_CHECK(applies(params, device), "E_NATIVE", "gradient buckets need contiguous parameters on " + device.str());
  views_.resize(params.size());
  for (const auto& bucket : plan_buckets(params, bucket_bytes)) {
    int64_t numel = 0;
    for (size_t i : bucket) numel += params[i].numel();
    auto flat = torch::zeros({numel}, params[bucket.front()].options().requires_grad(false));
    int64_t offset = 0;
    for (size_t i : bucket) {
      views_[i] = flat.narrow(0, offset, params[i].numel()).view(params[i].sizes());
      offset += params[i].numel();
    }
    flats_.push_back(flat);
  }
}

void GradientBuckets::attach(std::vector<at::Tensor>& params) const {
  LCMD_CHECK(params.size() == views_.size(), "E_NATIVE", "gradient buckets were made for another parameter list");
  for (const auto& flat : flats_) flat.zero_();
  for (size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = views_[i];
}

void GradientBuckets::allreduce_mean(ProcessGroup& group, std::vector<at::Tensor>& grads, int64_t bucket_bytes, const std::string& what) const {
  torch::NoGradGuard no_grad;
  LCMD_CHECK(grads.size() >= views_.size(), "E_NATIVE", "fewer gradients than the buckets hold");
  std::vector<size_t> moved;  // grads that autograd replaced instead of accumulating into the view
  for (size_t i = 0; i < views_.size(); ++i)
    if (!grads[i].is_same(views_[i])) {
      views_[i].copy_(grads[i]);
      moved.push_back(i);
    }
  group.allreduce_mean(flats_, what, Wait::Stream);
  for (size_t i : moved) grads[i].copy_(views_[i]);
  if (grads.size() > views_.size())
    allreduce_mean_bucketed(group, std::vector<at::Tensor>(grads.begin() + int64_t(views_.size()), grads.end()), bucket_bytes, what, Wait::Stream);
}

void broadcast_bucketed(ProcessGroup& group, const std::vector<at::Tensor>& tensors, int64_t root, int64_t bucket_bytes,
                        const std::string& what) {
  bucketed(group, tensors, bucket_bytes, [&](std::vector<at::Tensor>& flats) { group.broadcast(flats, root, what); });
}

}  // namespace lcmd
