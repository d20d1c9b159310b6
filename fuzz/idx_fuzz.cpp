// IDX reader, plain and gzip (the first input byte picks which the file is written as).
#include <zlib.h>

#include "fuzz/fuzz_util.h"
#include "rflow/io/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string path;
  if (data[0] & 1) {
    path = (rflow::fuzz::scratch() / "in.idx.gz").string();
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, data + 1, static_cast<unsigned>(size - 1));
    gzclose(f);
  } else {
    path = rflow::fuzz::put("in.idx", data + 1, size - 1);
  }
  rflow::fuzz::refusals_only([&] { rflow::io::read_idx(path); });
  return 0;
}
