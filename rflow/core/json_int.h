// Integers read from JSON files a user or a crash may have touched (state.json, eval results,
// metrics lines). nlohmann converts a float such as 1e66 to an integer with a cast that is
// undefined behaviour when the value does not fit; these refuse anything but an integer in range.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "rflow/core/error.h"

namespace rflow {

inline int64_t json_int64(const nlohmann::json& v, const std::string& what, const std::string& where) {
  if (v.is_number_unsigned()) {
    RF_CHECK(v.get<uint64_t>() <= uint64_t(std::numeric_limits<int64_t>::max()), what + " is out of range", where,
             "the file is corrupt");
    return static_cast<int64_t>(v.get<uint64_t>());
  }
  RF_CHECK(v.is_number_integer(), what + " is not an integer (" + std::string(v.type_name()) + ")", where,
           "the file is corrupt");
  return v.get<int64_t>();
}

// j[key] when present, else `fallback`.
inline int64_t json_int64_or(const nlohmann::json& j, const char* key, int64_t fallback, const std::string& where) {
  return j.is_object() && j.contains(key) ? json_int64(j.at(key), key, where) : fallback;
}

}  // namespace rflow
