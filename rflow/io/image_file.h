// Image files: PNG writing (sample grids, per-class sheets) and reading PNG/JPEG/BMP/… for
// folder-of-images data sets, through stb. Readers check the header (size, channels) before decoding,
// so a corrupt or huge file fails with a clear rflow::Error.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

namespace rflow::io {

// image: uint8 [H, W] (grey), [H, W, 1], [H, W, 3] or [H, W, 4]. Written atomically.
void write_png(const std::string& path, const at::Tensor& image);
// The PNG file's bytes (for embedding in reports); `where` names the image in errors.
std::string encode_png(const at::Tensor& image, const std::string& where = "encode_png");

// uint8 [H, W, C]; channels = 0 keeps the file's (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA), 1/3/4 converts.
at::Tensor read_image(const std::string& path, int channels = 0);

// Tiles images [N, C, H, W] (C = 1 or 3; float in [−1, 1] or uint8) into a uint8 grid [H', W', C]
// with `cols` columns and `pad` pixels of background between tiles.
at::Tensor image_grid(const at::Tensor& images, int64_t cols, int64_t pad = 2);

// A sample sheet: the first cols × rows images as a PNG grid (column k holds class k when the
// images were drawn with balanced labels i mod cols).
void write_image_grid(const std::string& path, const at::Tensor& images, int64_t cols, int64_t rows = 10);

}  // namespace rflow::io
