// Which config keys each pipeline stage reads, so a finished stage is judged only by them: a key
// that no finished stage read may change freely (adding reflow or distill to a trained run), one
// that a finished evaluation read reruns it, one that a finished model read is refused.
// Key lists are dotted prefixes ("train" covers train.*); "!prefix" excludes, the longest match wins.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace rflow {

struct RunConfig;

// The keys that define the 1-RF: seed, data, model, method and train, less the options sections
// of the backbones, methods and data sets the config does not select.
std::vector<std::string> model_keys(const RunConfig& cfg);

bool reads_key(const std::vector<std::string>& reads, const std::string& key);

// {"key": value} for every key in `reads`: what a stage's done marker records, and compares with
// the config of a later invocation key by key (a key added to rflow since is not a change).
nlohmann::json read_values(const RunConfig& cfg, const std::vector<std::string>& reads);

}  // namespace rflow
