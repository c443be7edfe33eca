#include "core/train/time_warp.h"

namespace lcmd {

TimeWarp::TimeWarp(c10::Device device) : stats_(torch::zeros({2, kBins}, torch::TensorOptions().dtype(at::kFloat).device(device))) {}

at::Tensor time_warp_bin_probabilities(const at::Tensor& statistics) {
  constexpr int64_t kBins = TimeWarp::kBins;
  constexpr double kUniformShare = TimeWarp::kUniformShare;
  // Everything stays on the device (no host read), so the step keeps its one sync.
  auto stats = statistics.to(at::kDouble);
  auto sums = stats[0], counts = stats[1];
  auto seen = counts > 1e-6;
  // A bin never sampled holds 0 here; the running maximum then gives it no rise of its own.
  auto means = torch::where(seen, sums / counts.clamp_min(1e-12), torch::zeros_like(sums));
  auto curve = std::get<0>(torch::cummax(means.clamp_min(0), 0));
  auto rise = curve - torch::cat({torch::zeros({1}, curve.options()), curve.narrow(0, 0, kBins - 1)});  // CE(0) = 0
  auto total = rise.sum();
  auto uniform = torch::full_like(rise, 1.0 / double(kBins));
  auto learned = rise / total.clamp_min(1e-12);
  auto mixed = (1.0 - kUniformShare) * learned + kUniformShare * uniform;
  return torch::where(total > 1e-9, mixed, uniform);
}

at::Tensor time_warp_times(const at::Tensor& stats, const at::Tensor& u) {
  constexpr int64_t kBins = TimeWarp::kBins;
  auto p = time_warp_bin_probabilities(stats);
  auto cdf = torch::cumsum(p, 0);
  auto u64 = u.to(at::kDouble).contiguous();
  // the first bin whose upper CDF edge exceeds u; the clamp guards against a last edge a rounding below 1
  auto bin = torch::searchsorted(cdf, u64, /*out_int32=*/false, /*right=*/true).clamp_max(kBins - 1);
  auto p_bin = p.index_select(0, bin);
  auto lower = cdf.index_select(0, bin) - p_bin;
  auto within = ((u64 - lower) / p_bin).clamp(0.0, 1.0);
  auto t = (bin.to(at::kDouble) + within) / double(kBins);
  return t.clamp(1e-6, 1.0 - 1e-6).to(at::kFloat).to(u.device());
}

at::Tensor TimeWarp::batch_statistics(const at::Tensor& t, const at::Tensor& ce) const {
  auto bin = (t.detach().to(at::kDouble) * double(kBins)).floor().clamp(0, kBins - 1).to(at::kLong);
  const int64_t batch = bin.size(0);
  auto out = torch::zeros({2, kBins}, stats_.options());
  out[0].index_add_(0, bin, ce.detach().to(at::kFloat).reshape({-1}));
  out[1].index_add_(0, bin, torch::ones({batch}, stats_.options()));
  // per example, so that ranks averaging equal shards get the single-process statistics of the whole batch
  return out / double(batch);
}

void TimeWarp::update(const at::Tensor& batch) {
  torch::NoGradGuard no_grad;
  stats_.mul_(kDecay).add_(batch.to(stats_.device(), stats_.scalar_type()));
}

}  // namespace lcmd
