// Name → factory tables (solvers, models, data sets, methods). Built-ins are registered explicitly
// by the function that owns each table (static self-registration is silently dropped when linking
// a static library), and `--help` lists them with their one-line descriptions.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "rflow/core/error.h"

namespace rflow {

// Edit distance with adjacent transpositions counted as one edit ("trian" is 1 from "train");
// used for "did you mean" suggestions on names, subcommands and config keys.
size_t edit_distance(const std::string& a, const std::string& b);
std::string closest_name(const std::vector<std::string>& names, const std::string& name);

template <class Factory>
class Registry {
 public:
  explicit Registry(std::string kind) : kind_(std::move(kind)) {}

  void add(const std::string& name, std::string help, Factory f) {
    RF_CHECK(!entries_.count(name), "duplicate " + kind_ + " '" + name + "'", "registry", "");
    entries_.emplace(name, Entry{std::move(help), std::move(f)});
  }

  const Factory& get(const std::string& name, const std::string& where = {}) const {
    auto it = entries_.find(name);
    if (it != entries_.end()) return it->second.factory;
    std::string near = closest_name(names(), name);
    throw Error("unknown " + kind_ + " '" + name + "'", where,
                (near.empty() ? std::string() : "did you mean '" + near + "'? ") + "valid: " + joined());
  }

  bool contains(const std::string& name) const { return entries_.count(name) > 0; }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : entries_) out.push_back(k);
    return out;
  }

  std::vector<std::pair<std::string, std::string>> list() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [k, v] : entries_) out.emplace_back(k, v.help);
    return out;
  }

  std::string joined() const {
    std::string s;
    for (const auto& k : names()) s += (s.empty() ? "" : ", ") + k;
    return s;
  }

 private:
  struct Entry {
    std::string help;
    Factory factory;
  };
  std::string kind_;
  std::map<std::string, Entry> entries_;
};

}  // namespace rflow
