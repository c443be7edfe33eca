// The text of a failure inside c10d or gloo, for E_DISTRIBUTED messages: c10::Error's what() carries a C++
// backtrace that says nothing to a user, so only its message is kept.
#pragma once
#include <torch/torch.h>

#include <exception>
#include <string>

namespace lcmd {

inline std::string brief_what(const std::exception& e) {
  if (auto* c10_error = dynamic_cast<const c10::Error*>(&e)) return c10_error->what_without_backtrace();
  return e.what();
}

}  // namespace lcmd
