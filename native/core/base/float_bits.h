// A float32's bit pattern and back, in host and device code alike (for math built in the exponent bits).
#pragma once
#include <cstdint>
#include <cstring>

#include "core/base/host_device.h"

namespace lcmd {

LCMD_HOST_DEVICE uint32_t bits_of_float(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
#endif
}

LCMD_HOST_DEVICE float float_of_bits(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
#endif
}

}  // namespace lcmd
