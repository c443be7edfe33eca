// Facts about the loaded libtorch, BLAS and devices, for `lcmd info` and benchmark reports.
#pragma once
#include <string>
#include <vector>

namespace lcmd {

struct DeviceInfo {
  int index;
  std::string name;
  double memory_gib;
};

struct RuntimeInfo {
  std::string torch_version;
  std::string torch_dir;
  std::string torch_via;
  std::vector<std::string> torch_libraries;  // paths of libtorch/libc10 mapped into this process
  std::string blas_library;                  // the BLAS actually mapped, e.g. openblas or the reference libblas
  bool blas_is_reference;
  std::string onednn;  // "oneDNN x.y.z" where the CPU Linear layers use its sgemm (core/blas/onednn_gemm.h), else empty
  bool cuda_compiled;
  bool cuda_available;
  std::vector<DeviceInfo> devices;
  int threads;
};

RuntimeInfo runtime_info();

// Measured single-precision GEMM rate on the CPU, in GFLOP/s.
double measure_cpu_gemm_gflops(int size, double seconds);

}  // namespace lcmd
