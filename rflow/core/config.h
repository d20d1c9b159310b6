// Config structs declare every field once, in a `template <class V> void visit(V& v)` member that
// calls v("name", field, "help") and v.section("name", sub). This file turns that one declaration
// into TOML loading, `--set key=value` overrides, nearest-key suggestions, a key listing for --help
// and the resolved JSON dump, so no field is ever spelled twice.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace rflow::config {

using FieldPtr = std::variant<int64_t*, double*, bool*, std::string*, std::vector<double>*,
                              std::vector<int64_t>*, std::vector<std::string>*>;

struct Field {
  std::string key;  // dotted path, e.g. "train.lr"
  FieldPtr ptr;
  std::string help;
  // Set for a retired key that still loads (old config files and checkpoints): the key it now
  // is. Aliases write through to that field and never appear in dumps, listings or suggestions.
  std::string alias_of;
};

class FieldCollector {
 public:
  explicit FieldCollector(std::vector<Field>& out, std::string prefix = {})
      : out_(out), prefix_(std::move(prefix)) {}

  template <class T>
  void operator()(const std::string& name, T& value, const std::string& help) {
    out_.push_back(Field{prefix_ + name, FieldPtr(&value), help, {}});
  }
  template <class S>
  void section(const std::string& name, S& sub) {
    FieldCollector inner(out_, prefix_ + name + ".");
    sub.visit(inner);
  }
  // `name` (relative to this section) is the old spelling of `target` (relative as well).
  void alias(const std::string& name, const std::string& target) {
    out_.push_back(Field{prefix_ + name, FieldPtr(static_cast<int64_t*>(nullptr)), {}, prefix_ + target});
  }

 private:
  std::vector<Field>& out_;
  std::string prefix_;
};

// Points every alias at its target's storage (throws if a target does not exist).
void resolve_aliases(std::vector<Field>& fields);

template <class Cfg>
std::vector<Field> fields_of(Cfg& cfg) {
  std::vector<Field> out;
  FieldCollector c(out);
  cfg.visit(c);
  resolve_aliases(out);
  return out;
}

// TOML: tables map to sections; unknown keys and wrong types throw rflow::Error naming the file,
// the key and the closest valid key.
void load_toml_file(const std::vector<Field>& fields, const std::string& path);
void load_toml_string(const std::vector<Field>& fields, const std::string& text,
                      const std::string& where);
// "key=value"; the value is parsed as the field's type (lists as TOML arrays: [1, 2, 4]).
void apply_override(const std::vector<Field>& fields, const std::string& assignment);
// Resolved config as nested JSON (sections become objects), and back (for checkpoints / run dirs).
std::string to_json(const std::vector<Field>& fields, int indent = 2);
void load_json(const std::vector<Field>& fields, const std::string& text, const std::string& where);
// Closest key by edit distance ("" when nothing is reasonably close).
std::string nearest_key(const std::vector<Field>& fields, const std::string& key);
// One line per key: name, type, current value, help (for `--help` / `rflow <cmd> --list-keys`).
std::string describe(const std::vector<Field>& fields);
// The same as Markdown (docs/config.md): one table per top-level section, key | type | default | meaning.
std::string describe_markdown(const std::vector<Field>& fields);
std::string value_string(const Field& f);

}  // namespace rflow::config
