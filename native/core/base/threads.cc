#include "core/base/threads.h"

#include <torch/torch.h>

#include "core/base/error.h"

namespace lcmd {

void set_num_threads(int n) {
  LCMD_CHECK(n >= 1 && n <= 1024, "E_RANGE", "thread count must be between 1 and 1024, got " + std::to_string(n));
  at::set_num_threads(n);
}

int num_threads() { return at::get_num_threads(); }

}  // namespace lcmd
