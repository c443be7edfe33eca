// Intra-op thread control. libtorch's OpenMP workers spin while idle, so processes sharing cores must split them.
#pragma once

namespace lcmd {

void set_num_threads(int n);
int num_threads();

}  // namespace lcmd
