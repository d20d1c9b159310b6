// safetensors reader (weights, EMA, pair shards, the FID network).
#include "fuzz/fuzz_util.h"
#include "rflow/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = rflow::fuzz::put("in.safetensors", data, size);
  rflow::fuzz::refusals_only([&] {
    auto d = rflow::io::load_safetensors(path);
    if (!d.tensors.empty()) rflow::io::find_tensor(d, d.tensors.front().first);
  });
  return 0;
}
