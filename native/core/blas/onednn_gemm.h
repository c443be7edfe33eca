// oneDNN's single-precision GEMM, for the products where it beats the BLAS libtorch calls (OpenBLAS in Debian's
// libtorch): a Linear layer's forward and its input gradient, 10 to 24% faster on the shapes of this model at one
// thread (bench/cpu-vs-pytorch.ts measures the whole effect). Built in when CMake finds oneDNN's headers
// (libdnnl-dev); without them every product stays with libtorch.
#pragma once
#include <cstdint>
#include <string>

namespace lcmd::blas {

// Whether this build calls oneDNN.
bool onednn_built();

// "oneDNN 2.6.3" when built in, else empty.
std::string onednn_version();

// Row-major C[M, N] = A[M, K] op(B) + beta C, with op(B) = B^T for a [N, K] B (transpose_b) or B for a [K, N] one.
// Leading dimensions are those of contiguous matrices. Threads: libtorch's intra-op count, which oneDNN's OpenMP
// regions take from the calling thread. Throws LcmdError E_NATIVE if oneDNN is not built in or reports a failure.
void onednn_sgemm(const float* a, const float* b, float* c, int64_t M, int64_t N, int64_t K, bool transpose_b, float beta);

}  // namespace lcmd::blas
