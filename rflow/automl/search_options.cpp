#include "rflow/automl/search_options.h"

#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "rflow/automl/sampler.h"
#include "rflow/core/config.h"
#include "rflow/core/error.h"

namespace fs = std::filesystem;

namespace rflow::automl {

namespace {

nlohmann::json json_of(const toml::node& n) {
  if (const auto* t = n.as_table()) {
    nlohmann::json o = nlohmann::json::object();
    for (const auto& [k, v] : *t) o[std::string(k.str())] = json_of(v);
    return o;
  }
  if (const auto* a = n.as_array()) {
    nlohmann::json o = nlohmann::json::array();
    for (const auto& v : *a) o.push_back(json_of(v));
    return o;
  }
  if (const auto* s = n.as_string()) return s->get();
  if (const auto* i = n.as_integer()) return i->get();
  if (const auto* f = n.as_floating_point()) return f->get();
  if (const auto* b = n.as_boolean()) return b->get();
  return nullptr;
}

}  // namespace

SearchOptions SearchOptions::load(const std::string& path, const std::vector<std::string>& overrides) {
  SearchOptions o;
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw Error(std::string("not a valid search file: ") + std::string(e.description()), path,
                "see docs/automl.md for its form");
  } catch (const std::exception& e) {
    throw Error(std::string("cannot read the search file: ") + e.what(), path, "check the path");
  }
  if (const toml::node* space = t.get("space")) {
    RF_CHECK(space->is_array_of_tables(), "space must be [[space]] tables", path + ": space",
             "one [[space]] table per parameter: key, low, high (log) or choices");
    o.space = SearchSpace::from_json(json_of(*space), path + ": space");
    t.erase("space");
  }
  std::ostringstream rest;
  rest << t;
  auto fields = config::fields_of(o);
  config::load_toml_string(fields, rest.str(), path);
  for (const auto& a : overrides) config::apply_override(fields, a);
  // A config named relative to the search file is found from anywhere.
  if (!o.config.empty() && fs::path(o.config).is_relative() && !fs::exists(o.config))
    o.config = (fs::path(path).parent_path() / o.config).lexically_normal().string();
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
}

std::string SearchOptions::study_dir() const { return (fs::path(dir) / name).string(); }

nlohmann::json SearchOptions::meta() const {
  return {{"config", fs::absolute(config).lexically_normal().string()},
          {"sampler", sampler},
          {"seed", seed},
          {"space", space.to_json()},
          {"asha", {{"min_steps", asha.min_steps}, {"max_steps", asha.max_steps}, {"eta", asha.eta}}},
          {"objective", {{"metric", objective.metric}, {"solver", objective.solver}, {"nfe", objective.nfe}, {"n", objective.n}}}};
}

}  // namespace rflow::automl
