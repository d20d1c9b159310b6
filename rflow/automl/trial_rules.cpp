#include "rflow/automl/trial_rules.h"

#include <nlohmann/json.hpp>

#include "rflow/pipeline/run_config.h"

namespace rflow::automl {

nlohmann::json resolved_trial_config(const SearchOptions& s, const Point& x) {
  RunConfig cfg = load_run_config(s.config, settings_of(s.space, x));
  return nlohmann::json::parse(to_json(cfg));
}

bool keeps_rules(const SearchOptions& s, const Point& x, std::string* why) {
  if (s.constraints.empty()) return true;
  const nlohmann::json resolved = resolved_trial_config(s, x);
  for (const auto& c : s.constraints)
    if (!c.holds(resolved, why)) return false;
  return true;
}

}  // namespace rflow::automl
