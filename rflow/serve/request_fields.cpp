#include "rflow/serve/request_fields.h"

#include <cmath>
#include <limits>

#include <torch/torch.h>

namespace rflow::serve {

namespace {

HttpError bad(const std::string& key, const std::string& what, const std::string& hint) {
  return HttpError(400, what, "request field '" + key + "'", hint);
}

}  // namespace

nlohmann::json parse_body(const Request& r) {
  if (r.body.find_first_not_of(" \t\r\n") == std::string::npos) return nlohmann::json::object();
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw HttpError(400, "the body is not JSON", "request body", "send a JSON object, e.g. {\"n\": 4}");
  if (!j.is_object()) throw HttpError(400, "the body is not a JSON object", "request body", "send {\"key\": value, ...}");
  return j;
}

void refuse_unknown_fields(const nlohmann::json& body, const std::set<std::string>& known) {
  for (const auto& [key, value] : body.items()) {
    if (known.count(key)) continue;
    const std::string near = closest_name(std::vector<std::string>(known.begin(), known.end()), key);
    std::string all;
    for (const auto& k : known) all += (all.empty() ? "" : ", ") + k;
    throw bad(key, "unknown field", (near.empty() ? "" : "did you mean '" + near + "'? ") + "fields: " + all);
  }
}

int64_t int_field(const nlohmann::json& body, const std::string& key, int64_t fallback, int64_t lo, int64_t hi) {
  if (!body.contains(key)) return fallback;
  const auto& v = body[key];
  if (!v.is_number_integer())
    throw bad(key, "must be a whole number", "between " + std::to_string(lo) + " and " + std::to_string(hi));
  // Checked as a double first: an unsigned value past int64's range must not wrap.
  const double d = v.get<double>();
  if (d < double(lo) || d > double(hi))
    throw bad(key, v.dump() + " is out of range",
              "between " + std::to_string(lo) + " and " + std::to_string(hi));
  return v.get<int64_t>();
}

uint64_t seed_field(const nlohmann::json& body, const std::string& key) {
  if (!body.contains(key)) return 0;
  const auto& v = body[key];
  if (!v.is_number_unsigned()) throw bad(key, "must be a whole number >= 0", "e.g. \"seed\": 7");
  return v.get<uint64_t>();
}

bool bool_field(const nlohmann::json& body, const std::string& key, bool fallback) {
  if (!body.contains(key)) return fallback;
  if (!body[key].is_boolean()) throw bad(key, "must be true or false", "");
  return body[key].get<bool>();
}

double number_field(const nlohmann::json& body, const std::string& key, double fallback, double lo, double hi) {
  if (!body.contains(key)) return fallback;
  const auto& v = body[key];
  if (!v.is_number()) throw bad(key, "must be a number", "between " + std::to_string(lo) + " and " + std::to_string(hi));
  const double d = v.get<double>();
  if (!std::isfinite(d) || d < lo || d > hi)
    throw bad(key, "is out of range", "between " + std::to_string(lo) + " and " + std::to_string(hi));
  return d;
}

std::string string_field(const nlohmann::json& body, const std::string& key, const std::string& fallback,
                         size_t max_chars) {
  if (!body.contains(key)) return fallback;
  const auto& v = body[key];
  if (!v.is_string()) throw bad(key, "must be a string", "");
  const std::string s = v.get<std::string>();
  if (s.size() > max_chars) throw bad(key, "is longer than " + std::to_string(max_chars) + " characters", "");
  return s;
}

std::vector<std::string> strings_field(const nlohmann::json& body, const std::string& key, size_t max_items,
                                       size_t max_chars) {
  if (!body.contains(key)) return {};
  const auto& v = body[key];
  const nlohmann::json list = v.is_string() ? nlohmann::json::array({v}) : v;
  if (!list.is_array()) throw bad(key, "must be a string or a list of strings", "");
  if (list.size() > max_items) throw bad(key, "has more than " + std::to_string(max_items) + " entries", "");
  std::vector<std::string> out;
  for (const auto& e : list) {
    if (!e.is_string()) throw bad(key, "must be a string or a list of strings", "");
    if (e.get<std::string>().size() > max_chars)
      throw bad(key, "has an entry longer than " + std::to_string(max_chars) + " characters", "");
    out.push_back(e.get<std::string>());
  }
  return out;
}

at::Tensor rows_field(const nlohmann::json& body, const std::string& key, int64_t width, int64_t max_items) {
  if (!body.contains(key)) throw bad(key, "is missing", "a list of " + std::to_string(width) + " numbers (or a list of such lists)");
  const auto& v = body[key];
  const bool single = v.is_array() && !v.empty() && v[0].is_number();
  const nlohmann::json rows = single ? nlohmann::json::array({v}) : v;
  if (!rows.is_array() || rows.empty()) throw bad(key, "must be a non-empty list", "");
  if (rows.size() > static_cast<size_t>(max_items)) throw bad(key, "has more than " + std::to_string(max_items) + " rows", "");
  at::Tensor out = torch::empty({static_cast<int64_t>(rows.size()), width});
  float* p = out.data_ptr<float>();
  for (const auto& row : rows) {
    if (!row.is_array() || row.size() != static_cast<size_t>(width))
      throw bad(key, "each row must hold " + std::to_string(width) + " numbers", "");
    for (const auto& x : row) {
      // Beyond float's range a finite double would become infinite (and converting it is undefined).
      if (!x.is_number() || !(std::fabs(x.get<double>()) <= std::numeric_limits<float>::max()))
        throw bad(key, "holds a value that is not a finite number (in float range)", "");
      *p++ = x.get<float>();
    }
  }
  return out;
}

at::Tensor labels_field(const nlohmann::json& body, int64_t classes, int64_t n) {
  const bool given = body.contains("labels") || body.contains("label");
  if (classes == 0) {
    if (given) throw HttpError(400, "this model has no classes", "request field 'labels'", "leave labels out");
    return {};
  }
  std::vector<int64_t> labels;
  if (body.contains("labels")) {
    const auto& v = body["labels"];
    if (!v.is_array() || (v.size() != 1 && static_cast<int64_t>(v.size()) != n))
      throw HttpError(400, "must be a list of one label or n labels", "request field 'labels'", "");
    for (const auto& l : v) {
      // Compared as doubles: an unsigned 2^64 − 1 must not wrap to −1.
      if (!l.is_number_integer() || l.get<double>() < -1 || l.get<double>() >= double(classes))
        throw HttpError(400, "labels are classes 0 … " + std::to_string(classes - 1) + " (or −1: none)",
                        "request field 'labels'", "");
      labels.push_back(l.get<int64_t>());
    }
  } else if (body.contains("label")) {
    labels.push_back(int_field(body, "label", -1, -1, classes - 1));
  }
  at::Tensor out = torch::remainder(torch::arange(n, torch::kInt64), classes);
  if (labels.size() == 1) out.fill_(labels[0]);
  if (static_cast<int64_t>(labels.size()) == n && n > 1) out = torch::tensor(labels, torch::kInt64);
  return out;
}

}  // namespace rflow::serve
