// A trial's settings as the run config resolves them, and whether they keep the search's rules
// ([[constraint]]: hidden % heads …) — a sampler proposes points blind to them, so the search
// draws again rather than spend a trial on a model that cannot be built.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "rflow/automl/search_options.h"

namespace rflow::automl {

// A run config (a file, or "" for the defaults) with `settings` applied, resolved to JSON: every
// key, defaults included — what rules and warm starts read.
nlohmann::json resolved_config(const std::string& path, const std::vector<std::string>& settings);
// Whether a resolved config keeps every rule; if not, `why` names the first it breaks.
bool keeps(const std::vector<Constraint>& rules, const nlohmann::json& resolved, std::string* why = nullptr);
// The base config with the point's settings, resolved.
nlohmann::json resolved_trial_config(const SearchOptions& s, const Point& x);
// Whether x keeps every rule; if not, `why` names the first it breaks.
bool keeps_rules(const SearchOptions& s, const Point& x, std::string* why = nullptr);

}  // namespace rflow::automl
