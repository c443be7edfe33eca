// Distances between a set of generated images and a set of real ones, in a scorer's feature space.
//   - Frechet distance: |mu_r - mu_g|^2 + tr(S_r + S_g - 2 (S_r^1/2 S_g S_r^1/2)^1/2), in float64, the square root
//     from symmetric eigendecompositions, with its relative residual reported so a bad root is visible;
//   - precision and recall (Kynkaanniemi et al. 2019, k = 3): the share of generated points inside the union of the
//     real points' k-NN balls, and of real points inside the generated points' balls;
//   - density and coverage (Naeem et al. 2020, k = 5): the mean number of real balls holding a generated point, over
//     k; the share of real balls holding at least one generated point.
#pragma once
#include <torch/torch.h>

namespace lcmd {

struct FrechetResult {
  double distance = 0;
  double sqrt_residual = 0;  // ||R R - M||_F / ||M||_F for the root R of M = S_r^1/2 S_g S_r^1/2
};

FrechetResult frechet_distance(const at::Tensor& real, const at::Tensor& generated);

struct PrdcResult {
  double precision = 0, recall = 0, density = 0, coverage = 0;
};

// real [n, F], generated [m, F]; k_pr for precision/recall, k_dc for density/coverage. Needs n, m > max(k).
PrdcResult precision_recall_density_coverage(const at::Tensor& real, const at::Tensor& generated, int64_t k_pr = 3, int64_t k_dc = 5);

// The share of rows equal to an earlier row: 1 - (distinct rows) / n.
double duplicate_fraction(const at::Tensor& rows);

}  // namespace lcmd
