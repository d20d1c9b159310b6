// TOML documents read as JSON: the search file's and cards' array-of-tables parts ([[space]],
// [[tunable]], [[constraint]]) are parsed from JSON, the rest by the visit()ed options.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "rflow/core/config.h"

namespace rflow::automl {

nlohmann::json json_of_toml(const toml::node& n);
// The file parsed, with read and syntax errors as rflow::Error naming the path (`what` names the
// kind of file in the message).
toml::table parse_toml_file(const std::string& path, const std::string& what);
// A search file or card: its `tables` ([[space]], [[tunable]], ...) taken out as JSON arrays
// (refused unless arrays of tables), the rest loaded into `fields` — unknown keys refused with
// the nearest known one — then `overrides` (key=value) applied.
nlohmann::json load_toml_fields(const std::vector<config::Field>& fields, const std::string& path, const std::string& what,
                                const std::vector<std::string>& tables, const std::vector<std::string>& overrides = {});

}  // namespace rflow::automl
