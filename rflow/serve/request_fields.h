// Reading a JSON request body field by field: each reader checks the type and the range and
// answers 400 naming the field and what it takes, so a client learns its mistake from one reply.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "rflow/serve/endpoint.h"

namespace rflow::serve {

// The body as a JSON object (an empty body is {}); anything else is a 400.
nlohmann::json parse_body(const Request& r);
// A 400 for the first key that is not in `known` (with the nearest known name).
void refuse_unknown_fields(const nlohmann::json& body, const std::set<std::string>& known);
// Absent: `fallback`; present: of the type and within [lo, hi], or a 400.
int64_t int_field(const nlohmann::json& body, const std::string& key, int64_t fallback, int64_t lo, int64_t hi);
bool bool_field(const nlohmann::json& body, const std::string& key, bool fallback);
uint64_t seed_field(const nlohmann::json& body, const std::string& key);
double number_field(const nlohmann::json& body, const std::string& key, double fallback, double lo, double hi);
std::string string_field(const nlohmann::json& body, const std::string& key, const std::string& fallback,
                         size_t max_chars);
// A string or a list of at most max_items strings of at most max_chars each.
std::vector<std::string> strings_field(const nlohmann::json& body, const std::string& key, size_t max_items,
                                       size_t max_chars);
// A list of at most max_items rows of `width` numbers each (a single row may come unnested), as a
// float tensor [rows, width]; each number finite and within float's range.
at::Tensor rows_field(const nlohmann::json& body, const std::string& key, int64_t width, int64_t max_items);
// Class labels [n]: "labels" (one per sample, or one for all), "label" (one for all), else each
// class in turn; −1 is the unconditional sample. Undefined for a model without classes (classes
// = 0), where either field is refused.
at::Tensor labels_field(const nlohmann::json& body, int64_t classes, int64_t n);

}  // namespace rflow::serve
