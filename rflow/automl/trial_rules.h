// A trial's settings as the run config resolves them, and whether they keep the search's rules
// ([[constraint]]: hidden % heads …) — a sampler proposes points blind to them, so the search
// draws again rather than spend a trial on a model that cannot be built.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

#include "rflow/automl/search_options.h"

namespace rflow::automl {

// The base config with the point's settings, resolved (every key, defaults included).
nlohmann::json resolved_trial_config(const SearchOptions& s, const Point& x);
// Whether x keeps every rule; if not, `why` names the first it breaks.
bool keeps_rules(const SearchOptions& s, const Point& x, std::string* why = nullptr);

}  // namespace rflow::automl
