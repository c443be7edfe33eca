// Thread control for every pool a CPU run uses: libtorch's intra-op pool (OpenMP), its inter-op pool, and OpenBLAS's
// own pool, which libtorch's setting does not reach. Idle OpenMP workers spin, so processes sharing cores must
// split them, and every pool must respect the split.
#pragma once

namespace lcmd {

struct ThreadPools {
  int intra_op = 0;
  int inter_op = 0;
  int openblas = -1;  // -1: no OpenBLAS is loaded
};

// Sets the intra-op pool and OpenBLAS's pool to n (the inter-op pool can only be set before its first use, so it is
// set once, to n, the first time).
void set_num_threads(int n);
int num_threads();
ThreadPools thread_pools();

}  // namespace lcmd
