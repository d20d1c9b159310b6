// Rotary position embeddings: each adjacent pair (2j, 2j+1) of a query/key is rotated by
// position · ω_j, so that q·k depends on positions only through their difference. 1-D for token
// sequences (MLA's decoupled keys) and 2-D for image patches (Hunyuan-DiT): the first half of a
// head rotates by the column, the second by the row, on coordinates that may be centred into a
// fixed base grid so that every resolution shares one coordinate box.
#pragma once

#include <cstdint>
#include <utility>

#include <ATen/core/Tensor.h>

namespace rflow {

// Angles [T, dim / 2] for positions [T] (any float dtype): pos · theta^(−2j/dim). dim even.
at::Tensor rope_angles(const at::Tensor& positions, int64_t dim, double theta = 10000.0);

// Angles [T, dim / 2] for patches at (col, row) [T] each: the first dim/4 pairs from col, the
// rest from row, each a 1-D rope of dim / 2. dim divisible by 4.
at::Tensor rope_angles_2d(const at::Tensor& col, const at::Tensor& row, int64_t dim, double theta = 10000.0);

// Patch coordinates (col, row), each [rows · cols] in row-major patch order. base = 0: integer
// positions 0 … n−1 ("extend"); base > 0: the grid's aspect ratio fitted into a base × base box,
// centred, positions linspace(offset, offset + extent, n, endpoint = false) (Hunyuan-DiT's centred
// interpolation, so a larger grid takes fractional steps through the same box).
std::pair<at::Tensor, at::Tensor> patch_coordinates(int64_t rows, int64_t cols, int64_t base = 0);

// Fixed 2-D sin-cos position vectors [rows · cols, dim] of a row-major patch grid (MAE's): the
// sines then the cosines of rope_angles_2d at integer (col, row). Added to tokens whose attention
// has no 2-D positions of its own (a 1-D rotary language model reading an image). dim % 4 == 0.
at::Tensor sincos_positions_2d(int64_t rows, int64_t cols, int64_t dim, double theta = 10000.0);

// Rotates x [..., T, dim] by angles [T, dim / 2] (broadcast over the leading dimensions).
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& angles);

}  // namespace rflow
