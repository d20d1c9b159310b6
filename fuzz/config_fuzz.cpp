// Run configs: a TOML file plus --set overrides (the input's lines before a line "---"), and the
// JSON form a run directory stores (config.json).
#include <sstream>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "rflow/pipeline/run_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> sets;
  std::string toml = text;
  if (const auto cut = text.find("\n---\n"); cut != std::string::npos) {
    std::istringstream in(text.substr(0, cut));
    for (std::string line; std::getline(in, line);) sets.push_back(line);
    toml = text.substr(cut + 5);
  }
  const std::string path = rflow::fuzz::put("in.toml", toml);
  rflow::fuzz::refusals_only([&] {
    rflow::RunConfig cfg = rflow::load_run_config(path, sets);
    rflow::run_config_from_json(rflow::to_json(cfg), "round trip");  // what a run stores must read back
  });
  rflow::fuzz::refusals_only([&] { rflow::run_config_from_json(text, "config.json"); });
  return 0;
}
