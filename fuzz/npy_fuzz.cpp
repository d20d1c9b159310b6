// .npy reader, and the sample loader every CLI input goes through.
#include "fuzz/fuzz_util.h"
#include "rflow/io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = rflow::fuzz::put("in.npy", data, size);
  rflow::fuzz::refusals_only([&] { rflow::io::read_npy(path); });
  rflow::fuzz::refusals_only([&] { rflow::io::read_npy_samples(path); });
  rflow::fuzz::refusals_only([&] { rflow::io::read_npy_samples(path, {1, 4, 4}); });
  return 0;
}
