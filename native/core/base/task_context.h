// What a long native call gets from its caller: a way to notice cancellation and to report progress.
// Core code stays free of N-API; the addon fills these in from an AbortSignal and a JS callback.
#pragma once
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/base/error.h"

namespace lcmd {

using ProgressFields = std::map<std::string, double>;

struct TaskContext {
  std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);
  std::function<void(const std::string& stage, const ProgressFields&)> progress;

  bool is_cancelled() const { return cancelled && cancelled->load(); }
  void throw_if_cancelled() const {
    if (is_cancelled()) fail("E_ABORTED", "the operation was aborted");
  }
  void report(const std::string& stage, const ProgressFields& fields) const {
    if (progress) progress(stage, fields);
  }
};

}  // namespace lcmd
