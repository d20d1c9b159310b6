#include "rflow/automl/search_options.h"

#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "rflow/automl/sampler.h"
#include "rflow/automl/toml_json.h"
#include "rflow/core/config.h"
#include "rflow/core/error.h"

namespace fs = std::filesystem;

namespace rflow::automl {

SearchOptions SearchOptions::load(const std::string& path, const std::vector<std::string>& overrides) {
  SearchOptions o;
  toml::table t = parse_toml_file(path, "search file");
  if (const toml::node* space = t.get("space")) {
    RF_CHECK(space->is_array_of_tables(), "space must be [[space]] tables", path + ": space",
             "one [[space]] table per parameter: key, low, high (log) or choices");
    o.space = SearchSpace::from_json(json_of_toml(*space), path + ": space");
    t.erase("space");
  }
  if (const toml::node* rules = t.get("constraint")) {
    RF_CHECK(rules->is_array_of_tables(), "constraint must be [[constraint]] tables", path + ": constraint",
             "one [[constraint]] table per rule: key, divisible_by");
    o.constraints = constraints_from_json(json_of_toml(*rules), path + ": constraint");
    t.erase("constraint");
  }
  std::ostringstream rest;
  rest << t;
  auto fields = config::fields_of(o);
  config::load_toml_string(fields, rest.str(), path);
  for (const auto& a : overrides) config::apply_override(fields, a);
  // A config named relative to the search file is found from anywhere.
  if (!o.config.empty() && fs::path(o.config).is_relative() && !fs::exists(o.config))
    o.config = (fs::path(path).parent_path() / o.config).lexically_normal().string();
  for (auto& w : o.warm_start)
    if (fs::path(w).is_relative() && !fs::exists(w)) w = (fs::path(path).parent_path() / w).lexically_normal().string();
  if (o.name.empty()) o.name = fs::path(o.config).stem().string();
  o.validate(path);
  return o;
}

void SearchOptions::validate(const std::string& where) const {
  RF_CHECK(!config.empty(), "the search needs the run config its trials start from", where + ": config",
           "config = \"configs/demo_2d.toml\"");
  RF_CHECK(fs::is_regular_file(config), "the run config '" + config + "' does not exist", where + ": config",
           "name a TOML run config (relative to the search file or the working directory)");
  RF_CHECK(!name.empty() && name.find('/') == std::string::npos, "the study's name must be a plain name", where + ": name",
           "letters, digits, _ and -");
  samplers().get(sampler, where + ": sampler");
  RF_CHECK(trials >= 1 && trials <= 100000, "trials must be in [1, 100000]", where + ": trials", "30 is a useful start");
  RF_CHECK(workers >= 1 && workers <= 256, "workers must be in [1, 256]", where + ": workers", "at most the cores");
  RF_CHECK(minutes >= 0, "minutes must be >= 0", where + ": minutes", "0 = no limit");
  asha.validate(where + ": asha");
  RF_CHECK(objective.nfe >= 1 && objective.n >= 2, "the objective needs nfe >= 1 and n >= 2", where + ": objective",
           "e.g. nfe = 4, n = 2000");
  space.validate(where + ": space");
  for (const auto& w : warm_start)
    RF_CHECK(fs::is_regular_file(w), "the warm start '" + w + "' does not exist", where + ": warm_start",
             "name run configs or search files (relative to the search file or the working directory)");
}

std::string SearchOptions::study_dir() const { return (fs::path(dir) / name).string(); }

nlohmann::json SearchOptions::meta() const {
  nlohmann::json m{{"config", fs::absolute(config).lexically_normal().string()},
          {"sampler", sampler},
          {"seed", seed},
          {"space", space.to_json()},
          {"asha", {{"min_steps", asha.min_steps}, {"max_steps", asha.max_steps}, {"eta", asha.eta}}},
          {"objective", {{"metric", objective.metric}, {"solver", objective.solver}, {"nfe", objective.nfe}, {"n", objective.n}}}};
  // Only when given, so that studies made before these existed still open.
  if (!warm_start.empty()) {
    m["warm_start"] = nlohmann::json::array();
    for (const auto& w : warm_start) m["warm_start"].push_back(fs::absolute(w).lexically_normal().string());
  }
  for (const auto& c : constraints) m["constraints"].push_back({{"key", c.key}, {"divisible_by", c.divisible_by}});
  return m;
}

}  // namespace rflow::automl
