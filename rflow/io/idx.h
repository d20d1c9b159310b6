// IDX files (the MNIST / Fashion-MNIST container), plain or gzip-compressed: magic 0x0000 TT ND,
// ND big-endian uint32 dimensions, then the data. The reader checks the magic, the dimensions and
// the data length (for .gz, the gzip trailer's uncompressed size) before allocating anything, and
// rejects truncated or over-long files, so a corrupt download fails with one clear rflow::Error.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

namespace rflow::io {

// Returns a contiguous CPU tensor of the file's dtype (uint8, int8, int16, int32, float32,
// float64 from type codes 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E) and shape.
at::Tensor read_idx(const std::string& path);

// Writes t (uint8/int8/int16/int32/float32/float64, 1–4 dims) as IDX; gzip-compressed when the
// path ends in ".gz". Written atomically. For tests and for exporting data sets.
void write_idx(const std::string& path, const at::Tensor& t);

}  // namespace rflow::io
