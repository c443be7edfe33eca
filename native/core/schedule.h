// The variance-preserving noise schedule of SPEC section 3: the shifted cosine log-SNR and what follows from it.
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

// Posterior q(z_s | z_t, x) of SPEC section 4, for s < t, elementwise over broadcastable float64 tensors of
// alpha/sigma at s and t. Returns the coefficients: mu = coef_z * z_t + coef_x * e_x, variance var.
struct PosteriorCoefficients {
  at::Tensor coef_z;
  at::Tensor coef_x;
  at::Tensor var;
};
PosteriorCoefficients posterior_coefficients(const at::Tensor& alpha_s, const at::Tensor& sigma_s, const at::Tensor& alpha_t,
                                             const at::Tensor& sigma_t);

// The DDIM step of SPEC 6.6: z_s = (sigma_s / sigma_t) z_t + (alpha_s - alpha_t sigma_s / sigma_t) e_hat.
// Coefficients broadcast against z_t (e.g. shape [B, 1, 1]).
at::Tensor ddim_step(const at::Tensor& z_t, const at::Tensor& e_hat, const at::Tensor& alpha_s, const at::Tensor& sigma_s,
                     const at::Tensor& alpha_t, const at::Tensor& sigma_t);

}  // namespace lcmd
