// NumPy .npy files: the exchange format for user point data and for golden values shared with
// Python. The reader validates the whole header against the file size before allocating, so a
// corrupt or hostile file fails with a clear rflow::Error instead of a crash or a huge allocation.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace rflow::io {

// Reads a .npy file (format versions 1.0, 2.0 and 3.0) into a contiguous CPU tensor with the file's
// dtype: <f4 <f8 <f2 <i8 <i4 <i2 |i1 |u1 |b1 ('=' and, for 1-byte types, '|'/'<' are accepted too).
// Big-endian data, Fortran order and other dtypes are rejected with an Error saying how to re-save.
// A shape of () gives a 0-d tensor.
at::Tensor read_npy(const std::string& path);

// Writes t (any device, any layout) as C-order little-endian .npy with numpy's own header layout
// (version 1.0 unless the header needs 2.0, data aligned to 64 bytes). Written atomically.
// Throws for dtypes numpy cannot hold (e.g. bfloat16, complex).
void write_npy(const std::string& path, const at::Tensor& t);
// The bytes write_npy writes (an HTTP response, a buffer); `where` names it in errors.
std::string encode_npy(const at::Tensor& t, const std::string& where = "encode_npy");

// The same file written a block of rows at a time, for arrays larger than memory should hold at
// once (`rflow sample -n 50000000`): the header states the whole shape, rows go to a temporary file
// next to `path`, and finish() renames it into place; a writer dropped before finish() (an error,
// a failed solve) removes its temporary and leaves `path` as it was. The bytes equal write_npy's.
class NpyRowWriter {
 public:
  NpyRowWriter(std::string path, at::ScalarType dtype, std::vector<int64_t> shape);
  ~NpyRowWriter();
  NpyRowWriter(const NpyRowWriter&) = delete;
  NpyRowWriter& operator=(const NpyRowWriter&) = delete;
  void append(const at::Tensor& rows);  // [k, shape[1:]...], converted to the writer's dtype
  void finish();                        // after all shape[0] rows

 private:
  void write(const char* data, std::size_t n);
  std::string path_, tmp_;
  at::ScalarType dtype_;
  std::vector<int64_t> shape_;
  int64_t rows_ = 0;
  std::ofstream out_;
};

// Reads user point data: requires a 2-D float32/float64 array with at least one row and column,
// rejects NaN/Inf (naming the first bad row), and returns float32 [N, D].
at::Tensor read_npy_matrix(const std::string& path);
// The same checks on an array already read from `path`.
at::Tensor as_point_matrix(at::Tensor t, const std::string& path);

// Reads samples for a model whose samples have `sample_shape` ({D}: points, {C, H, W}: images; {}:
// whatever the file holds, 2-D as points and 3-/4-D as images). Every CLI input of samples goes
// through here: N >= 1, the shape checked against the model's, float32/float64 (uint8 images are
// scaled from 0–255 to [−1, 1]; N×H×W is one channel), no NaN/Inf (the first bad row named).
// Returns float32.
at::Tensor read_npy_samples(const std::string& path, const std::vector<int64_t>& sample_shape = {});

}  // namespace rflow::io
