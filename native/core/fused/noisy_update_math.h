// Per-element math of the fused sampler update (core/fused/noisy_update.h), shared by the CPU loop and the CUDA kernel.
#pragma once
#include "core/base/host_device.h"
#include "core/fused/noisy_update.h"

namespace lcmd::fused {

LCMD_HOST_DEVICE float noisy_update_element(float z, float e, float noise, const NoisyUpdateCoefficients& c) {
  return c.coef_z * z + c.coef_x * e + c.noise_std * noise;
}

// The same without the prediction term (infill's forward jump).
LCMD_HOST_DEVICE float noisy_jump_element(float z, float noise, const NoisyUpdateCoefficients& c) { return c.coef_z * z + c.noise_std * noise; }

}  // namespace lcmd::fused
