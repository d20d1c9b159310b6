#include "rflow/pipeline/stage_keys.h"

#include <nlohmann/json.hpp>

#include "rflow/core/config.h"
#include "rflow/pipeline/run_config.h"

namespace rflow {

namespace {

bool under(const std::string& key, const std::string& prefix) {
  return key == prefix || (key.size() > prefix.size() && key.compare(0, prefix.size(), prefix) == 0 &&
                           key[prefix.size()] == '.');
}

template <class Map>
void exclude_others(const Map& options, const std::string& section, const std::string& chosen,
                    std::vector<std::string>& out) {
  for (const auto& [name, o] : options)
    if (name != chosen) out.push_back("!" + section + "." + name);
}

}  // namespace

std::vector<std::string> model_keys(const RunConfig& cfg) {
  std::vector<std::string> out{"seed", "data", "model", "method", "train"};
  exclude_others(cfg.model.options, "model", cfg.model.arch, out);
  exclude_others(cfg.method.options, "method", cfg.method.name, out);
  const auto data_end = [&](const DistributionConfig& d, const std::string& section) {
    const std::string chosen = distributions().contains(d.name) ? distributions().get(d.name).section : "";
    exclude_others(d.options, section, chosen, out);
  };
  data_end(cfg.data.source, "data.source");
  data_end(cfg.data.target, "data.target");
  // Bookkeeping changes no weight: a resumed run may keep more checkpoints, log more often or sum
  // its gradients in other buckets.
  for (const char* section : {"train", "reflow.train", "distill.train"})
    for (const char* key : {"keep_checkpoints", "log_every", "bucket_mb"}) out.push_back(std::string("!") + section + "." + key);
  return out;
}

bool reads_key(const std::vector<std::string>& reads, const std::string& key) {
  size_t best = 0;
  bool read = false;
  for (const auto& r : reads) {
    const bool exclude = !r.empty() && r[0] == '!';
    const std::string prefix = exclude ? r.substr(1) : r;
    if (!under(key, prefix)) continue;
    if (prefix.size() > best || (prefix.size() == best && !exclude)) best = prefix.size(), read = !exclude;
  }
  return read;
}

nlohmann::json read_values(const RunConfig& cfg, const std::vector<std::string>& reads) {
  RunConfig copy = cfg;  // fields_of takes a mutable config
  nlohmann::json out = nlohmann::json::object();
  for (const auto& f : config::fields_of(copy))
    if (f.alias_of.empty() && reads_key(reads, f.key)) out[f.key] = nlohmann::json::parse(config::value_string(f));
  return out;
}

}  // namespace rflow
