#include "rflow/core/fingerprint.h"

#include <fstream>
#include <vector>

#include <fmt/format.h>

#include "rflow/core/error.h"

namespace rflow {

uint64_t fingerprint_bytes(const void* data, std::size_t n, uint64_t h) {
  const auto* b = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

uint64_t fingerprint_file(const std::string& path, uint64_t h) {
  std::ifstream in(path, std::ios::binary);
  RF_CHECK(in.good(), "cannot read the file", path, "check that it exists and is readable");
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h = fingerprint_bytes(buf.data(), static_cast<std::size_t>(in.gcount()), h);
  }
  RF_CHECK(in.eof(), "reading the file failed", path, "check the disk and the file's permissions");
  return h;
}

std::string fingerprint_hex(uint64_t h) { return fmt::format("{:016x}", h); }

}  // namespace rflow
