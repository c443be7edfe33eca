#include "core/sample/oracle_denoiser.h"

#include <cmath>
#include <limits>

#include "core/base/error.h"

namespace lcmd {

namespace {

std::string shape_string(const at::Tensor& t) {
  std::string out = "[";
  for (int64_t i = 0; i < t.dim(); ++i) out += (i ? ", " : "") + std::to_string(t.size(i));
  return out + "]";
}

bool is_integer(const at::Tensor& t) { return !at::isFloatingType(t.scalar_type()) && t.scalar_type() != at::kBool; }

}  // namespace

OracleDenoiser::OracleDenoiser(OracleData data)
    : num_classes_(data.num_classes), class_leak_(data.class_leak), schedule_(data.shift), device_(data.device) {
  LCMD_CHECK(data.grids.defined() && data.grids.dim() == 2 && data.grids.size(0) >= 1 && data.grids.size(1) >= 1, "E_SHAPE",
             "oracle grids must have shape [M, N] with M, N >= 1");
  LCMD_CHECK(is_integer(data.grids), "E_DTYPE", "oracle grids must hold integer tokens");
  LCMD_CHECK(data.embeddings.defined() && data.embeddings.dim() == 2 && data.embeddings.size(0) >= 1 && data.embeddings.size(1) >= 1,
             "E_SHAPE", "oracle embeddings must have shape [K, d] with K, d >= 1");
  LCMD_CHECK(at::isFloatingType(data.embeddings.scalar_type()), "E_DTYPE", "oracle embeddings must be floating point");
  LCMD_CHECK(data.embeddings.isfinite().all().item<bool>(), "E_RANGE", "oracle embeddings must be finite");
  const int64_t m = data.grids.size(0), n = data.grids.size(1), k = data.embeddings.size(0), d = data.embeddings.size(1);
  grids_ = data.grids.to(at::kCPU, at::kLong).contiguous();
  const int64_t lo = grids_.min().item<int64_t>(), hi = grids_.max().item<int64_t>();
  LCMD_CHECK(lo >= 0 && hi < k, "E_RANGE",
             "oracle grid tokens must be in [0, " + std::to_string(k) + "), got values in [" + std::to_string(lo) + ", " +
                 std::to_string(hi) + "]");
  LCMD_CHECK(num_classes_ >= 0, "E_RANGE", "the oracle's class count must be >= 0");
  LCMD_CHECK(std::isfinite(class_leak_) && class_leak_ >= 0 && class_leak_ <= 1, "E_RANGE", "the oracle's class leak must be in [0, 1]");
  if (num_classes_ > 0) {
    LCMD_CHECK(data.classes.defined(), "E_CONFIG", "a class-conditional oracle needs one class per grid");
    LCMD_CHECK(data.classes.dim() == 1 && data.classes.size(0) == m, "E_SHAPE",
               "expected " + std::to_string(m) + " oracle classes, got shape " + shape_string(data.classes));
    LCMD_CHECK(is_integer(data.classes), "E_DTYPE", "oracle classes must be integers");
    grid_classes_ = data.classes.to(at::kCPU, at::kLong).contiguous();
    LCMD_CHECK(grid_classes_.min().item<int64_t>() >= 0 && grid_classes_.max().item<int64_t>() < num_classes_, "E_RANGE",
               "oracle classes must be in [0, " + std::to_string(num_classes_) + ")");
  } else {
    LCMD_CHECK(!data.classes.defined(), "E_CONFIG", "oracle classes were given but the class count is 0");
  }
  auto weights = torch::ones({m}, at::kDouble);
  if (data.weights.defined()) {
    LCMD_CHECK(data.weights.dim() == 1 && data.weights.size(0) == m, "E_SHAPE",
               "expected " + std::to_string(m) + " oracle weights, got shape " + shape_string(data.weights));
    weights = data.weights.to(at::kCPU, at::kDouble);
    LCMD_CHECK(weights.isfinite().all().item<bool>() && weights.gt(0).all().item<bool>(), "E_RANGE",
               "oracle weights must be finite and positive");
  }
  log_weights_ = (weights / weights.sum()).log().to(device_);

  table_ = data.embeddings.to(device_, at::kFloat).contiguous();
  auto table64 = table_.to(at::kDouble);
  grid_embeddings_ = table64.index_select(0, grids_.flatten().to(device_)).view({m, n * d}).contiguous();
  grid_norms_ = grid_embeddings_.pow(2).sum(1);
  grids_ = grids_.to(device_);
  if (grid_classes_.defined()) grid_classes_ = grid_classes_.to(device_);
}

at::Tensor OracleDenoiser::log_prior(int64_t cls) const {
  if (num_classes_ == 0 || cls >= num_classes_) return log_weights_;
  auto in_class = grid_classes_.eq(cls);
  LCMD_CHECK(class_leak_ > 0 || in_class.any().item<bool>(), "E_RANGE",
             "the oracle has no grid of class " + std::to_string(cls) + " (and no class leak)");
  const double log_leak = class_leak_ > 0 ? std::log(class_leak_) : -std::numeric_limits<double>::infinity();
  return log_weights_ + at::where(in_class, torch::zeros_like(log_weights_), torch::full_like(log_weights_, log_leak));
}

at::Tensor OracleDenoiser::logits(const at::Tensor& z, const at::Tensor& t, const at::Tensor& classes) {
  const int64_t n = num_tokens(), d = embed_dim(), k = vocab_size(), m = grids_.size(0);
  LCMD_CHECK(z.dim() == 3 && z.size(1) == n && z.size(2) == d, "E_SHAPE",
             "expected z of shape [B, " + std::to_string(n) + ", " + std::to_string(d) + "], got " + shape_string(z));
  const int64_t batch = z.size(0);
  LCMD_CHECK(t.dim() == 1 && t.size(0) == batch, "E_SHAPE", "expected t of shape [" + std::to_string(batch) + "], got " + shape_string(t));
  if (classes.defined()) {
    LCMD_CHECK(classes.dim() == 1 && classes.size(0) == batch, "E_SHAPE",
               "expected classes of shape [" + std::to_string(batch) + "], got " + shape_string(classes));
    if (batch > 0)
      LCMD_CHECK(classes.min().item<int64_t>() >= 0 && classes.max().item<int64_t>() <= num_classes_, "E_RANGE",
                 "classes must be in [0, " + std::to_string(num_classes_) + "] (" + std::to_string(num_classes_) + " is the null class)");
  }
  auto z64 = z.to(device_, at::kDouble).reshape({batch, n * d});
  auto t64 = t.to(device_, at::kDouble);
  auto alpha = schedule_.alpha(t64), sigma_sq = schedule_.sigma_sq(t64);
  auto classes_cpu = classes.defined() ? classes.to(at::kCPU, at::kLong) : at::Tensor();
  auto out = torch::empty({batch, n, k}, at::TensorOptions().dtype(at::kFloat).device(device_));
  // One sample at a time, with the same shapes whatever the batch: a sample's logits never depend on its batch.
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t cls = classes_cpu.defined() ? classes_cpu[b].item<int64_t>() : num_classes_;
    // log N(z; alpha e_m, sigma^2 I) up to terms equal for every m: (alpha <z, e_m> - alpha^2 ||e_m||^2 / 2) / sigma^2
    auto a = alpha[b], s2 = sigma_sq[b];
    auto scores = log_prior(cls) + (a * at::mv(grid_embeddings_, z64[b]) - 0.5 * a * a * grid_norms_) / s2;
    auto posterior = torch::softmax(scores, 0);  // exp(scores - logsumexp(scores))
    auto marginals = torch::zeros({n, k}, z64.options());
    marginals.scatter_add_(1, grids_.t(), posterior.unsqueeze(0).expand({n, m}));
    out[b].copy_(marginals.log().clamp_min(kLogitFloor));
  }
  return out;
}

}  // namespace lcmd
