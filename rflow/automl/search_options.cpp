#include "rflow/automl/search_options.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "rflow/automl/sampler.h"
#include "rflow/automl/toml_json.h"
#include "rflow/core/config.h"
#include "rflow/core/error.h"

namespace fs = std::filesystem;

namespace rflow::automl {

SearchOptions SearchOptions::load(const std::string& path, const std::vector<std::string>& overrides) {
  SearchOptions o;
  const nlohmann::json parts = load_toml_fields(config::fields_of(o), path, "search file", {"space", "constraint"}, overrides);
  if (parts.contains("space")) o.space = SearchSpace::from_json(parts["space"], path + ": space");
  if (parts.contains("constraint")) o.constraints = constraints_from_json(parts["constraint"], path + ": constraint");
  // Files named relative to the search file are found from anywhere.
  const auto beside = [&](std::string& f) {
    if (!f.empty() && fs::path(f).is_relative() && !fs::exists(f)) f = (fs::path(path).parent_path() / f).lexically_normal().string();
  };
  beside(o.config);
  for (auto& w : o.warm_start) beside(w);
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
