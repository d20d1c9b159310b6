// The safetensors format (checkpoints, exported models): an 8-byte little-endian header length,
// a JSON header naming each tensor's dtype, shape and byte range, then the raw data. The loader
// checks every entry against the real file size before allocating, so hostile files cannot
// trigger huge allocations or out-of-bounds reads.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace rflow::io {

// Named tensors in a meaningful order (the order they are written, or found in the file).
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

struct SafetensorsData {
  NamedTensors tensors;                         // in the file's order of data offsets
  std::map<std::string, std::string> metadata;  // the "__metadata__" object, if any
  std::string path;                             // where it was loaded from, for error messages
};

// Writes tensors (any device/layout; dtypes F32 F64 F16 BF16 I64 I32 I16 I8 U8 BOOL) in the given
// order, with the header space-padded to a multiple of 8 as the reference implementation does.
// Written atomically. Throws rflow::Error for duplicate or reserved names and unsupported dtypes.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads and validates a whole safetensors file; returned tensors are contiguous, CPU and own
// their memory.
SafetensorsData load_safetensors(const std::string& path);

// The tensor called name; throws rflow::Error listing the available names when it is missing.
at::Tensor find_tensor(const SafetensorsData& data, const std::string& name);

}  // namespace rflow::io
