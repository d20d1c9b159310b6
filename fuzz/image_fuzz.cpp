// PNG / JPEG / BMP reader (image_folder data sets), in every channel mode.
#include "fuzz/fuzz_util.h"
#include "rflow/io/image_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = rflow::fuzz::put("in.png", data, size);
  for (int channels : {0, 1, 3}) rflow::fuzz::refusals_only([&] { rflow::io::read_image(path, channels); });
  return 0;
}
