// The variance-preserving noise schedule of docs/method.md section 3: the shifted cosine log-SNR and what follows from it.
// Everything is computed in float64 (the ends of [0, 1] lose all precision in float32) and returned as float64.
#pragma once
#include <torch/torch.h>

namespace lcmd {

class NoiseSchedule {
 public:
  // shift s: lambda(t) = -2 log tan(pi u / 2) + 2 log s, u = t_min + t (t_max - t_min); s = 1 is plain cosine.
  // t_min / t_max clip the unshifted log-SNR to [-max_logsnr, max_logsnr].
  explicit NoiseSchedule(double shift = 0.1, double max_logsnr = 15.0);

  double shift() const { return shift_; }
  double t_min() const { return t_min_; }
  double t_max() const { return t_max_; }

  at::Tensor logsnr(const at::Tensor& t) const;        // lambda(t)
  at::Tensor dlogsnr_dt(const at::Tensor& t) const;    // lambda'(t), negative
  at::Tensor alpha(const at::Tensor& t) const;         // sqrt(sigmoid(lambda))
  at::Tensor sigma(const at::Tensor& t) const;         // sqrt(sigmoid(-lambda))
  at::Tensor alpha_sq(const at::Tensor& t) const;      // sigmoid(lambda)
  at::Tensor sigma_sq(const at::Tensor& t) const;      // sigmoid(-lambda)
  // inverse: the t whose log-SNR is lambda (clipped to [0, 1])
  at::Tensor t_from_logsnr(const at::Tensor& lambda) const;

  double logsnr(double t) const;
  double alpha(double t) const;
  double sigma(double t) const;

 private:
  double shift_;
  double t_min_;
  double t_max_;
};

}  // namespace lcmd
