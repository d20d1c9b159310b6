#include "rflow/core/config.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <toml++/toml.h>

#include "rflow/core/error.h"
#include "rflow/core/registry.h"

namespace rflow::config {

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

std::string type_name(const FieldPtr& p) {
  return std::visit(Overloaded{[](int64_t*) { return std::string("integer"); },
                               [](double*) { return std::string("number"); },
                               [](bool*) { return std::string("bool"); },
                               [](std::string*) { return std::string("string"); },
                               [](std::vector<double>*) { return std::string("list of numbers"); },
                               [](std::vector<int64_t>*) { return std::string("list of integers"); },
                               [](std::vector<std::string>*) { return std::string("list of strings"); }},
                    p);
}

const char* const kListKeys = "; --list-keys lists all keys";

std::string unknown_key_hint(const std::vector<Field>& fields, const std::string& key) {
  std::string near = nearest_key(fields, key);
  return near.empty() ? "run with --list-keys to see the valid keys" : "did you mean '" + near + "'?" + kListKeys;
}

const Field* lookup(const std::vector<Field>& fields, const std::string& key, const std::string& where) {
  for (const auto& f : fields) {
    if (f.key != key) continue;
    if (!f.alias_of.empty())
      spdlog::warn("{}: config key '{}' is now '{}'; the old name still loads but will be removed", where, key,
                   f.alias_of);
    return &f;
  }
  return nullptr;
}

const Field& find_field(const std::vector<Field>& fields, const std::string& key,
                        const std::string& where) {
  if (const Field* f = lookup(fields, key, where)) return *f;
  throw Error("unknown config key '" + key + "'", where, unknown_key_hint(fields, key));
}

// All assignments go through JSON values so TOML, --set and config.json share one converter.
void assign(const Field& f, const nlohmann::json& v, const std::string& where) {
  auto bad = [&](const std::string& got) {
    return Error("wrong type for '" + f.key + "': expected " + type_name(f.ptr) + ", got " + got,
                 where, "help: " + f.help);
  };
  auto as_double = [&](const nlohmann::json& x) -> double {
    if (!x.is_number()) throw bad(x.type_name());
    return x.get<double>();
  };
  auto as_int = [&](const nlohmann::json& x) -> int64_t {
    if (x.is_number_integer()) return x.get<int64_t>();
    if (x.is_number_float()) {
      double d = x.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return static_cast<int64_t>(d);
    }
    throw bad(x.is_number() ? "a non-integer number" : x.type_name());
  };
  std::visit(Overloaded{[&](int64_t* p) { *p = as_int(v); },
                        [&](double* p) { *p = as_double(v); },
                        [&](bool* p) {
                          if (!v.is_boolean()) throw bad(v.type_name());
                          *p = v.get<bool>();
                        },
                        [&](std::string* p) {
                          if (!v.is_string()) throw bad(v.type_name());
                          *p = v.get<std::string>();
                        },
                        [&](std::vector<double>* p) {
                          if (!v.is_array()) throw bad(v.type_name());
                          std::vector<double> out;
                          for (const auto& e : v) out.push_back(as_double(e));
                          *p = out;
                        },
                        [&](std::vector<int64_t>* p) {
                          if (!v.is_array()) throw bad(v.type_name());
                          std::vector<int64_t> out;
                          for (const auto& e : v) out.push_back(as_int(e));
                          *p = out;
                        },
                        [&](std::vector<std::string>* p) {
                          if (!v.is_array()) throw bad(v.type_name());
                          std::vector<std::string> out;
                          for (const auto& e : v) {
                            if (!e.is_string()) throw bad("a list with " + std::string(e.type_name()));
                            out.push_back(e.get<std::string>());
                          }
                          *p = out;
                        }},
             f.ptr);
}

nlohmann::json field_json(const Field& f) {
  return std::visit([](auto* p) { return nlohmann::json(*p); }, f.ptr);
}

nlohmann::json toml_to_json(const toml::node& n, const std::string& key, const std::string& where) {
  if (auto v = n.as_integer()) return v->get();
  if (auto v = n.as_floating_point()) return v->get();
  if (auto v = n.as_boolean()) return v->get();
  if (auto v = n.as_string()) return v->get();
  if (auto arr = n.as_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : *arr) out.push_back(toml_to_json(e, key, where));
    return out;
  }
  throw Error("unsupported TOML value for '" + key + "'", where,
              "use numbers, strings, booleans or arrays of them");
}

// Every unknown key and wrong type of a file is collected, so one run of the command shows them all
// (the first kShownProblems with suggestions: a file that is not a config need not be listed whole).
constexpr size_t kShownProblems = 20;

void walk_table(const std::vector<Field>& fields, const toml::table& t, const std::string& prefix,
                const std::string& where, std::vector<Error>& problems) {
  for (const auto& [k, node] : t) {
    std::string key = prefix + std::string(k.str());
    std::string at = where;
    if (k.source().begin.line) at += ":" + std::to_string(k.source().begin.line);
    if (auto sub = node.as_table()) {
      walk_table(fields, *sub, key + ".", where, problems);
      continue;
    }
    try {
      // Past the problems shown, unknown keys are counted without the cost of a suggestion.
      const Field* f = problems.size() < kShownProblems ? &find_field(fields, key, at) : lookup(fields, key, at);
      if (!f) throw Error("unknown config key '" + key + "'", at);
      assign(*f, toml_to_json(node, key, at), at);
    } catch (const Error& e) {
      problems.push_back(e);
    }
  }
}

void walk_table(const std::vector<Field>& fields, const toml::table& t, const std::string& where) {
  std::vector<Error> problems;
  walk_table(fields, t, "", where, problems);
  if (problems.empty()) return;
  if (problems.size() == 1) throw problems.front();
  // In file order (TOML tables iterate by key).
  auto line_of = [](const Error& e) {
    const auto colon = e.where().rfind(':');
    return colon == std::string::npos ? 0L : std::strtol(e.where().c_str() + colon + 1, nullptr, 10);
  };
  std::stable_sort(problems.begin(), problems.end(),
                   [&](const Error& a, const Error& b) { return line_of(a) < line_of(b); });
  std::string what = std::to_string(problems.size()) + " problems in the config (--list-keys lists all keys):";
  for (size_t i = 0; i < std::min(problems.size(), kShownProblems); ++i) {
    const Error& p = problems[i];
    what += "\n  " + p.where() + ": " + p.message();
    std::string hint = p.hint();
    if (auto at = hint.find(kListKeys); at != std::string::npos) hint.erase(at);  // said once above
    if (!hint.empty()) what += " (" + hint + ")";
  }
  if (problems.size() > kShownProblems) what += "\n  … and " + std::to_string(problems.size() - kShownProblems) + " more";
  throw Error(what, where);
}

void walk_json(const std::vector<Field>& fields, const nlohmann::json& j, const std::string& prefix,
               const std::string& where) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string key = prefix + it.key();
    if (it->is_object()) {
      walk_json(fields, *it, key + ".", where);
      continue;
    }
    assign(find_field(fields, key, where), *it, where);
  }
}

}  // namespace

void load_toml_string(const std::vector<Field>& fields, const std::string& text,
                      const std::string& where) {
  toml::table t;
  try {
    t = toml::parse(text, where);
  } catch (const toml::parse_error& e) {
    throw Error(std::string("malformed TOML: ") + std::string(e.description()),
                where + ":" + std::to_string(e.source().begin.line) + ":" +
                    std::to_string(e.source().begin.column),
                "fix the syntax at that line");
  }
  walk_table(fields, t, where);
}

void load_toml_file(const std::vector<Field>& fields, const std::string& path) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::string desc(e.description());
    if (desc.find("File could not be opened") != std::string::npos) {
      std::error_code ec;
      if (!std::filesystem::exists(path, ec) && !ec) throw Error("config file not found", path, "check the path");
      std::ifstream probe(path);  // exists but unreadable: say why (permissions, a directory, ...)
      throw Error("cannot open config file: " + std::string(probe ? "unknown error" : std::strerror(errno)), path,
                  "check the file's permissions");
    }
    throw Error("malformed TOML: " + desc,
                path + ":" + std::to_string(e.source().begin.line) + ":" +
                    std::to_string(e.source().begin.column),
                "fix the syntax at that line");
  }
  walk_table(fields, t, path);
}

void apply_override(const std::vector<Field>& fields, const std::string& assignment) {
  auto eq = assignment.find('=');
  RF_CHECK(eq != std::string::npos && eq > 0, "override must look like key=value",
           "--set " + assignment, "e.g. --set train.lr=1e-3");
  std::string key = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  const Field& f = find_field(fields, key, "--set " + assignment);
  // Strings may be given bare (--set data.target.name=moons); everything else is a TOML value.
  if (std::holds_alternative<std::string*>(f.ptr)) {
    bool quoted = value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
                  value.back() == value.front();
    *std::get<std::string*>(f.ptr) = quoted ? value.substr(1, value.size() - 2) : value;
    return;
  }
  toml::table t;
  try {
    t = toml::parse("v = " + value);
  } catch (const toml::parse_error& e) {
    throw Error("cannot parse value '" + value + "' for '" + key + "' (" + type_name(f.ptr) + ")",
                "--set " + assignment, "help: " + f.help);
  }
  assign(f, toml_to_json(*t.get("v"), key, "--set " + assignment), "--set " + assignment);
}

void resolve_aliases(std::vector<Field>& fields) {
  for (auto& a : fields) {
    if (a.alias_of.empty()) continue;
    auto it = std::find_if(fields.begin(), fields.end(), [&](const Field& f) { return f.key == a.alias_of && f.alias_of.empty(); });
    RF_CHECK(it != fields.end(), "alias '" + a.key + "' names no key '" + a.alias_of + "'", "config",
             "fix the alias declaration");
    a.ptr = it->ptr;
    a.help = "old name of " + a.alias_of;
  }
}

std::string to_json(const std::vector<Field>& fields, int indent) {
  nlohmann::ordered_json root = nlohmann::ordered_json::object();
  for (const auto& f : fields) {
    if (!f.alias_of.empty()) continue;
    nlohmann::ordered_json* node = &root;
    std::string key = f.key;
    size_t pos;
    while ((pos = key.find('.')) != std::string::npos) {
      node = &(*node)[key.substr(0, pos)];
      key = key.substr(pos + 1);
    }
    (*node)[key] = field_json(f);
  }
  return root.dump(indent);
}

void load_json(const std::vector<Field>& fields, const std::string& text, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("malformed JSON: ") + e.what(), where, "the file may be corrupt");
  }
  RF_CHECK(j.is_object(), "config JSON must be an object", where, "the file may be corrupt");
  walk_json(fields, j, "", where);
}

namespace {

std::vector<std::string> split_dots(const std::string& key) {
  std::vector<std::string> out;
  size_t start = 0, pos;
  while ((pos = key.find('.', start)) != std::string::npos) out.push_back(key.substr(start, pos - start)), start = pos + 1;
  out.push_back(key.substr(start));
  return out;
}

// Distance between two keys, weighing the section path and the leaf separately: the leaf by
// characters, the sections segment by segment (a missing or extra section costs 2, a misspelt one
// its spelling distance), so "trian.steps" is 1 from "train.steps" and far from
// "method.distill.steps", and "lr" is 2 from "train.lr".
size_t key_distance(const std::vector<std::string>& a, const std::vector<std::string>& b, size_t leaf_distance) {
  const size_t n = a.size() - 1, m = b.size() - 1;  // section segments; the last one is the leaf
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  const size_t skip = 2;  // a section left out or added: "lr" is 2 from "train.lr"
  for (size_t i = 0; i <= n; ++i) d[i][0] = i * skip;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j * skip;
  for (size_t i = 1; i <= n; ++i)
    for (size_t j = 1; j <= m; ++j)
      d[i][j] = std::min({d[i - 1][j] + skip, d[i][j - 1] + skip, d[i - 1][j - 1] + edit_distance(a[i - 1], b[j - 1])});
  return d[n][m] + leaf_distance;
}

}  // namespace

std::string nearest_key(const std::vector<Field>& fields, const std::string& key) {
  std::string best;
  size_t best_d = std::string::npos, best_full = std::string::npos;
  const auto parts = split_dots(key);
  for (const auto& f : fields) {
    // An old spelling (an alias) is matched too and suggests the key it now stands for: with
    // several backbones holding a `hidden`, "model.hiden" is the old "model.hidden" misspelt.
    // The leaf's distance is a lower bound: most keys are ruled out before the section DP.
    const size_t leaf = edit_distance(parts.back(), f.key.substr(f.key.rfind('.') + 1));
    if (leaf > best_d) continue;
    const size_t d = key_distance(parts, split_dots(f.key), leaf);
    if (d > best_d) continue;
    const size_t full = edit_distance(key, f.key);  // ties: the closer spelling overall
    if (d < best_d || full < best_full) best_d = d, best_full = full, best = f.alias_of.empty() ? f.key : f.alias_of;
  }
  return best_d <= std::max<size_t>(3, key.size() / 4) ? best : std::string();
}

std::string value_string(const Field& f) { return field_json(f).dump(); }

std::string describe_markdown(const std::vector<Field>& fields) {
  auto cell = [](std::string s) {
    std::string out;
    for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
    return out;
  };
  std::ostringstream os;
  std::string section = "\x01";
  for (const auto& f : fields) {
    if (!f.alias_of.empty()) continue;
    const auto dot = f.key.find('.');
    const std::string top = dot == std::string::npos ? "" : f.key.substr(0, dot);
    if (top != section) {
      section = top;
      os << "\n## " << (top.empty() ? "Run" : "`" + top + ".*`") << "\n\n| key | type | default | meaning |\n|---|---|---|---|\n";
    }
    os << "| `" << f.key << "` | " << type_name(f.ptr) << " | `" << cell(value_string(f)) << "` | " << cell(f.help) << " |\n";
  }
  return os.str();
}

std::string describe(const std::vector<Field>& fields) {
  std::ostringstream os;
  size_t w = 0;
  for (const auto& f : fields) w = std::max(w, f.key.size());
  for (const auto& f : fields) {
    if (!f.alias_of.empty()) continue;
    os << "  " << f.key << std::string(w - f.key.size() + 2, ' ') << value_string(f) << "  ("
       << type_name(f.ptr) << ") " << f.help << "\n";
  }
  return os.str();
}

}  // namespace rflow::config
