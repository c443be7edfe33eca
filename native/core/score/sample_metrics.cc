#include "core/score/sample_metrics.h"

#include <cmath>

#include "core/base/error.h"

namespace lcmd {

namespace {

// Symmetric PSD square root by eigendecomposition; negative rounding eigenvalues are clipped to 0.
at::Tensor psd_sqrt(const at::Tensor& m) {
  auto [values, vectors] = at::linalg_eigh(m);
  return at::matmul(vectors * values.clamp_min(0).sqrt().unsqueeze(0), vectors.t());
}

// Distance from each row of `points` to its k-th nearest other row.
at::Tensor kth_neighbour_radius(const at::Tensor& points, int64_t k) {
  auto d = at::cdist(points, points);
  return std::get<0>(d.topk(k + 1, 1, /*largest=*/false, /*sorted=*/true)).select(1, k);  // index 0 is the point itself
}

}  // namespace

FrechetResult frechet_distance(const at::Tensor& real_in, const at::Tensor& generated_in) {
  LCMD_CHECK(real_in.dim() == 2 && generated_in.dim() == 2 && real_in.size(1) == generated_in.size(1), "E_SHAPE",
             "features must be [n, F] and [m, F] with the same F");
  LCMD_CHECK(real_in.size(0) >= 2 && generated_in.size(0) >= 2, "E_SHAPE", "the Frechet distance needs at least 2 images on each side");
  auto real = real_in.to(at::kDouble), generated = generated_in.to(at::kDouble);
  auto mu_r = real.mean(0), mu_g = generated.mean(0);
  auto cov = [](const at::Tensor& x, const at::Tensor& mu) {
    auto c = x - mu;
    return at::matmul(c.t(), c) / double(x.size(0) - 1);
  };
  auto s_r = cov(real, mu_r), s_g = cov(generated, mu_g);
  auto root_r = psd_sqrt(s_r);
  auto m = at::matmul(at::matmul(root_r, s_g), root_r);
  m = (m + m.t()) / 2;
  auto root_m = psd_sqrt(m);
  FrechetResult out;
  const double m_norm = m.norm().item<double>();
  out.sqrt_residual = m_norm > 0 ? (at::matmul(root_m, root_m) - m).norm().item<double>() / m_norm : 0.0;
  out.distance = ((mu_r - mu_g).pow(2).sum() + s_r.trace() + s_g.trace() - 2 * root_m.trace()).item<double>();
  return out;
}

PrdcResult precision_recall_density_coverage(const at::Tensor& real_in, const at::Tensor& generated_in, int64_t k_pr, int64_t k_dc) {
  const int64_t k_max = std::max(k_pr, k_dc);
  LCMD_CHECK(real_in.dim() == 2 && generated_in.dim() == 2 && real_in.size(1) == generated_in.size(1), "E_SHAPE",
             "features must be [n, F] and [m, F] with the same F");
  LCMD_CHECK(real_in.size(0) > k_max && generated_in.size(0) > k_max, "E_SHAPE",
             "precision, recall, density and coverage need more than " + std::to_string(k_max) + " images on each side");
  auto real = real_in.to(at::kDouble), generated = generated_in.to(at::kDouble);
  auto cross = at::cdist(real, generated);  // [n, m]
  auto radius_r_pr = kth_neighbour_radius(real, k_pr), radius_g_pr = kth_neighbour_radius(generated, k_pr);
  auto radius_r_dc = kth_neighbour_radius(real, k_dc);
  PrdcResult out;
  out.precision = (cross <= radius_r_pr.unsqueeze(1)).any(0).to(at::kDouble).mean().item<double>();
  out.recall = (cross <= radius_g_pr.unsqueeze(0)).any(1).to(at::kDouble).mean().item<double>();
  auto inside = (cross <= radius_r_dc.unsqueeze(1)).to(at::kDouble);
  out.density = inside.sum().item<double>() / double(k_dc * generated.size(0));
  out.coverage = (std::get<0>(cross.min(1)) <= radius_r_dc).to(at::kDouble).mean().item<double>();
  return out;
}

double duplicate_fraction(const at::Tensor& rows) {
  LCMD_CHECK(rows.dim() >= 1 && rows.size(0) > 0, "E_SHAPE", "no rows to compare");
  auto flat = rows.reshape({rows.size(0), -1}).contiguous();
  auto distinct = std::get<0>(at::unique_dim(flat, 0));
  return 1.0 - double(distinct.size(0)) / double(rows.size(0));
}

}  // namespace lcmd
