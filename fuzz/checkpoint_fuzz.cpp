// A run's checkpoints folder as resume, sample and info read it: state.json, config.json and
// LATEST come from the input (split at NUL bytes), the weight files from a real small model.
#include <filesystem>

#include <torch/torch.h>

#include "fuzz/fuzz_util.h"
#include "rflow/io/safetensors.h"
#include "rflow/train/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  static const bool weights_ready = [] {
    const auto dir = rflow::fuzz::scratch() / "run" / "checkpoints" / "step_00000010";
    fs::create_directories(dir);
    rflow::io::save_safetensors((dir / "model.safetensors").string(), {{"w", torch::ones({4, 4})}});
    rflow::io::save_safetensors((dir / "ema.safetensors").string(), {{"w", torch::ones({4, 4})}});
    return true;
  }();
  (void)weights_ready;
  std::string parts[3];
  size_t k = 0;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0 && k < 2) ++k;
    else parts[k].push_back(static_cast<char>(data[i]));
  }
  const std::string base = "run/checkpoints/";
  rflow::fuzz::put(base + "step_00000010/state.json", parts[0]);
  rflow::fuzz::put(base + "step_00000010/config.json", parts[1]);
  rflow::fuzz::put(base + "LATEST", parts[2]);
  const std::string run = (rflow::fuzz::scratch() / "run").string();
  rflow::fuzz::refusals_only([&] {
    const std::string ck = rflow::resolve_checkpoint(run);
    if (!ck.empty()) rflow::read_checkpoint_state(ck), rflow::read_checkpoint_config(ck);
  });
  return 0;
}
