// The one exception type the core throws. Its code becomes LcmdError.code in JavaScript.
#pragma once
#include <stdexcept>
#include <string>

namespace lcmd {

class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message) : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

[[noreturn]] inline void fail(const std::string& code, const std::string& message) { throw Error(code, message); }

}  // namespace lcmd

// Validates a user-facing condition; the message should say what was expected and what was received.
#define LCMD_CHECK(cond, code, message) \
  do {                                  \
    if (!(cond)) ::lcmd::fail((code), (message)); \
  } while (0)
