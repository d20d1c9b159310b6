#include "rflow/automl/toml_json.h"

#include <sstream>

#include "rflow/core/error.h"

namespace rflow::automl {

nlohmann::json json_of_toml(const toml::node& n) {
  if (const auto* t = n.as_table()) {
    nlohmann::json o = nlohmann::json::object();
    for (const auto& [k, v] : *t) o[std::string(k.str())] = json_of_toml(v);
    return o;
  }
  if (const auto* a = n.as_array()) {
    nlohmann::json o = nlohmann::json::array();
    for (const auto& v : *a) o.push_back(json_of_toml(v));
    return o;
  }
  if (const auto* s = n.as_string()) return s->get();
  if (const auto* i = n.as_integer()) return i->get();
  if (const auto* f = n.as_floating_point()) return f->get();
  if (const auto* b = n.as_boolean()) return b->get();
  return nullptr;
}

toml::table parse_toml_file(const std::string& path, const std::string& what) {
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    throw Error("not a valid " + what + ": " + std::string(e.description()) + " (line " + std::to_string(at.line) + ")", path,
                "see docs/automl.md for its form");
  } catch (const std::exception& e) {
    throw Error("cannot read the " + what + ": " + e.what(), path, "check the path");
  }
}

nlohmann::json load_toml_fields(const std::vector<config::Field>& fields, const std::string& path, const std::string& what,
                                const std::vector<std::string>& tables, const std::vector<std::string>& overrides) {
  toml::table t = parse_toml_file(path, what);
  nlohmann::json parts = nlohmann::json::object();
  for (const auto& name : tables)
    if (const toml::node* n = t.get(name)) {
      RF_CHECK(n->is_array_of_tables(), name + " must be [[" + name + "]] tables", path + ": " + name,
               "write one [[" + name + "]] table per entry");
      parts[name] = json_of_toml(*n);
      t.erase(name);
    }
  std::ostringstream rest;
  rest << t;
  config::load_toml_string(fields, rest.str(), path);
  for (const auto& a : overrides) config::apply_override(fields, a);
  return parts;
}

}  // namespace rflow::automl
