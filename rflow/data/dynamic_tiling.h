// DeepSeek-VL2's dynamic tiling: an image of any size and aspect ratio is seen twice — a global
// thumbnail (letterboxed into one S×S tile) and a local view letterboxed into the candidate grid of
// S×S tiles that keeps the most of its pixels (fewest wasted ones on a tie), cut row-major. Every
// tile then goes through the same small vision encoder. Letterboxing keeps the aspect ratio and
// pads with the normalisation mean (0 in rflow's [−1, 1] images).
#pragma once

#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace rflow {

// A local view of cols × rows tiles: (W, H) = (cols·S, rows·S).
struct TileGrid {
  int64_t cols = 1, rows = 1;
  int64_t tiles() const { return cols * rows; }
  bool operator==(const TileGrid& o) const { return cols == o.cols && rows == o.rows; }
  std::string name() const { return std::to_string(cols) + "x" + std::to_string(rows); }
};

struct TilingOptions {
  std::string mode = "dynamic";
  int64_t tile = 28;      // S: the vision encoder's input side
  int64_t max_tiles = 4;  // candidate grids m × n with m·n ≤ this

  template <class V>
  void visit(V& v) {
    v("mode", mode, "dynamic (a global view + the best grid of local tiles) | resize (every image letterboxed into one tile: the baseline)");
    v("tile", tile, "tile side S in pixels (the vision encoder's input)");
    v("max_tiles", max_tiles, "local tiles at most: the candidate grids are m × n with m·n ≤ this");
  }
  void validate(const std::string& where) const;
};

// Every m × n grid with m·n ≤ max_tiles, in VL2's order (m = cols outer, n = rows inner).
std::vector<TileGrid> candidate_grids(int64_t max_tiles);
// The grid for an image of width × height: for each candidate (W, H), s = min(W/w, H/h), kept =
// min(⌊w·s⌋·⌊h·s⌋, w·h), waste = W·H − kept; the most kept pixels, then the least waste, then the
// first in the list.
TileGrid select_grid(int64_t width, int64_t height, int64_t tile, const std::vector<TileGrid>& candidates);
// The grid options choose for an image (resize: always 1 × 1).
TileGrid grid_for(int64_t width, int64_t height, const TilingOptions& o);

// image [C, h, w] in [−1, 1] scaled to fit W × H keeping its aspect ratio (bilinear, antialiased;
// copied as is when it already has that size), centred, the rest filled with `fill`.
at::Tensor letterbox(const at::Tensor& image, int64_t width, int64_t height, double fill = 0.0);

struct TiledImage {
  at::Tensor tiles;  // [1 + rows·cols, C, S, S]: the global view, then the local tiles row-major
  TileGrid grid;
};
TiledImage tile_image(const at::Tensor& image, const TilingOptions& o);
// The local tiles [rows·cols, C, S, S] put back together: [C, rows·S, cols·S].
at::Tensor stitch_tiles(const at::Tensor& local_tiles, const TileGrid& grid);

// Image tokens of a grid when each tile gives side × side tokens: the global view's rows each end
// with a newline, one view separator, then the local grid's (rows·side) rows of cols·side tokens,
// each ending with a newline.
int64_t image_token_count(const TileGrid& grid, int64_t side);

}  // namespace rflow
