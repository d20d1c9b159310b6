// What a search may change: typed parameters, each a config key with its range (uniform or log,
// float or integer) or its choices, and the point a sampler proposes (one number per parameter:
// the value, or the index of the choice). Points become `--set key=value` settings of a trial.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace rflow::automl {

struct ParamSpec {
  std::string key;                   // the config key a trial sets (train.lr)
  std::string kind = "float";        // float | int | categorical
  double low = 0, high = 0;          // float and int, inclusive
  bool log = false;                  // sampled uniformly in log space (low > 0)
  std::vector<std::string> choices;  // categorical: values as `--set` takes them (TOML literals)
  void validate(const std::string& where) const;
  // The kind, read in one place (validate() admits only these three).
  bool categorical() const { return kind == "categorical"; }
  bool integer() const { return kind == "int"; }
  bool real() const { return kind == "float"; }
};

struct SearchSpace {
  std::vector<ParamSpec> params;
  // [{"key": "train.lr", "kind": "float", "low": 1e-4, "high": 3e-3, "log": true}, ...]; throws
  // naming `where`[i].field for the first bad entry (unknown kind, empty range, duplicate key).
  static SearchSpace from_json(const nlohmann::json& j, const std::string& where);
  nlohmann::json to_json() const;
  void validate(const std::string& where) const;
};

using Point = std::vector<double>;

// The text `--set key=` takes for parameter i at this point (a float as %.6g, an integer, the choice).
std::string setting_value(const ParamSpec& p, double v);
// key=value for every parameter.
std::vector<std::string> settings_of(const SearchSpace& s, const Point& x);
// x as its settings say it: floats to the 6 significant digits `--set` gets, so that the point a
// study records is the one its trial trained with.
Point snap(const SearchSpace& s, Point x);
// The point of named values ({"train.lr": 0.001, "train.batch_size": "128", ...}: numbers for
// float and int parameters, a choice's text or TOML value for a categorical one), as another
// tuner proposes it; every parameter must be given, and nothing else. Throws naming `where`.key.
Point point_of(const SearchSpace& s, const nlohmann::json& values, const std::string& where);
// Whether x lies in the space (ranges, integers, choice indices): points read back from a study
// made with another space are refused.
bool contains(const SearchSpace& s, const Point& x);

}  // namespace rflow::automl
