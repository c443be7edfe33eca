// Strict reading of JSON config objects: every key must be known and of the right type.
#pragma once
#include <nlohmann/json.hpp>

#include <set>
#include <string>

#include "core/base/error.h"

namespace lcmd {

class JsonFields {
 public:
  JsonFields(const nlohmann::json& j, std::string what) : j_(j), what_(std::move(what)) {
    LCMD_CHECK(j.is_object(), "E_CONFIG", what_ + " must be a JSON object");
  }

  template <class T>
  void read(const char* key, T& out) {
    seen_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return;
    try {
      if constexpr (std::is_same_v<T, bool>) {
        LCMD_CHECK(it->is_boolean(), "E_CONFIG", what_ + "." + key + " must be true or false");
      } else if constexpr (std::is_integral_v<T>) {
        LCMD_CHECK(it->is_number_integer() || (it->is_number_float() && it->get<double>() == std::floor(it->get<double>())),
                   "E_CONFIG", what_ + "." + key + " must be an integer, got " + it->dump());
      } else if constexpr (std::is_floating_point_v<T>) {
        LCMD_CHECK(it->is_number(), "E_CONFIG", what_ + "." + key + " must be a number, got " + it->dump());
      } else if constexpr (std::is_same_v<T, std::string>) {
        LCMD_CHECK(it->is_string(), "E_CONFIG", what_ + "." + key + " must be a string, got " + it->dump());
      }
      out = it->get<T>();
    } catch (const nlohmann::json::exception& e) {
      fail("E_CONFIG", what_ + "." + key + ": " + e.what());
    }
  }

  // Call after reading every known key: rejects anything else, so typos never pass silently.
  void reject_unknown() const {
    for (auto it = j_.begin(); it != j_.end(); ++it)
      LCMD_CHECK(seen_.count(it.key()), "E_CONFIG", "unknown key '" + it.key() + "' in " + what_);
  }

 private:
  const nlohmann::json& j_;
  std::string what_;
  std::set<std::string> seen_;
};

}  // namespace lcmd
