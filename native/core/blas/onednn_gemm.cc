#include "core/blas/onednn_gemm.h"

#include <ATen/Parallel.h>

#include "core/base/error.h"

#ifdef LCMD_WITH_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

namespace lcmd::blas {

bool onednn_built() {
#ifdef LCMD_WITH_ONEDNN
  return true;
#else
  return false;
#endif
}

std::string onednn_version() {
#ifdef LCMD_WITH_ONEDNN
  const dnnl_version_t* v = dnnl_version();
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
#else
  return "";
#endif
}

void onednn_sgemm(const float* a, const float* b, float* c, int64_t M, int64_t N, int64_t K, bool transpose_b, float beta) {
#ifdef LCMD_WITH_ONEDNN
  // A thread that has not run a libtorch parallel region yet (a Node worker) still has OpenMP's default thread count;
  // this gives it libtorch's, as libtorch's own parallel_for does first.
  at::internal::lazy_init_num_threads();
  const dnnl_status_t status = dnnl_sgemm('N', transpose_b ? 'T' : 'N', M, N, K, 1.0f, a, K, b, transpose_b ? K : N, beta, c, N);
  LCMD_CHECK(status == dnnl_success, "E_NATIVE", "oneDNN's sgemm failed (status " + std::to_string(static_cast<int>(status)) + ") on a [" +
                                                     std::to_string(M) + ", " + std::to_string(K) + "] x [" + std::to_string(K) + ", " +
                                                     std::to_string(N) + "] product");
#else
  LCMD_CHECK(false, "E_NATIVE", "this build of lcmd has no oneDNN (install libdnnl-dev and rebuild: npm rebuild lcmd)");
#endif
}

}  // namespace lcmd::blas
