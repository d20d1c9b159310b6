// TOML documents read as JSON: the search file's and cards' array-of-tables parts ([[space]],
// [[tunable]], [[constraint]]) are parsed from JSON, the rest by the visit()ed options.
#pragma once

#include <string>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

namespace rflow::automl {

nlohmann::json json_of_toml(const toml::node& n);
// The file parsed, with read and syntax errors as rflow::Error naming the path (`what` names the
// kind of file in the message).
toml::table parse_toml_file(const std::string& path, const std::string& what);

}  // namespace rflow::automl
