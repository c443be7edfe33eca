#include "core/base/runtime_info.h"
#include "core/blas/onednn_gemm.h"

#include <torch/torch.h>

#include <chrono>
#include <fstream>
#include <set>

#include "core/base/compat.h"
#include "core/base/threads.h"
#ifdef LCMD_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

#ifndef LCMD_TORCH_DIR
#define LCMD_TORCH_DIR ""
#endif
#ifndef LCMD_TORCH_VIA
#define LCMD_TORCH_VIA ""
#endif

namespace lcmd {

namespace {

// /proc/self/maps tells which shared objects were really loaded, which is what decides BLAS speed.
std::vector<std::string> mapped_libraries() {
  std::set<std::string> seen;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    auto slash = line.find('/');
    if (slash != std::string::npos) seen.insert(line.substr(slash));
  }
  return {seen.begin(), seen.end()};
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

RuntimeInfo runtime_info() {
  RuntimeInfo info;
  info.torch_version = compat::torch_version();
  info.torch_dir = LCMD_TORCH_DIR;
  info.torch_via = LCMD_TORCH_VIA;
  std::string blas;
  for (const auto& lib : mapped_libraries()) {
    auto base = lib.substr(lib.rfind('/') + 1);
    if (contains(base, "libtorch") || contains(base, "libc10")) info.torch_libraries.push_back(lib);
    if (contains(base, "openblas") || contains(base, "mkl_") || contains(base, "libblis") ||
        (contains(base, "libblas") && blas.empty()))
      blas = lib;
    if (contains(lib, "openblas") || contains(base, "mkl_")) blas = lib;
  }
  info.blas_library = blas.empty() ? "none mapped (statically linked, e.g. MKL)" : blas;
  info.blas_is_reference = !blas.empty() && contains(blas, "/blas/libblas");
  info.onednn = blas::onednn_version();
  info.threads = num_threads();
#ifdef LCMD_WITH_CUDA
  info.cuda_compiled = true;
#else
  info.cuda_compiled = false;
#endif
  info.cuda_available = torch::cuda::is_available();
#ifdef LCMD_WITH_CUDA
  for (int i = 0; info.cuda_available && i < static_cast<int>(torch::cuda::device_count()); ++i) {
    auto* props = at::cuda::getDeviceProperties(i);
    info.devices.push_back({i, props->name, props->totalGlobalMem / double(1 << 30)});
  }
#endif
  return info;
}

double measure_cpu_gemm_gflops(int size, double seconds) {
  torch::NoGradGuard no_grad;
  auto a = torch::randn({size, size});
  auto b = torch::randn({size, size});
  auto c = torch::mm(a, b);  // warm-up: thread pool start and first-touch costs
  int iterations = 0;
  auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  do {
    c = torch::mm(a, b);
    ++iterations;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < seconds);
  return 2.0 * size * size * double(size) * iterations / elapsed / 1e9;
}

}  // namespace lcmd
