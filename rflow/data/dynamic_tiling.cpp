#include "rflow/data/dynamic_tiling.h"

#include <cmath>

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow {

void TilingOptions::validate(const std::string& where) const {
  RF_CHECK(mode == "dynamic" || mode == "resize", "unknown tiling mode '" + mode + "'", where + ".mode", "dynamic | resize");
  RF_CHECK(tile >= 4 && tile <= 1024, "tile must be in 4 … 1024 pixels", where + ".tile", "");
  RF_CHECK(max_tiles >= 1 && max_tiles <= 64, "max_tiles must be in 1 … 64", where + ".max_tiles", "");
}

std::vector<TileGrid> candidate_grids(int64_t max_tiles) {
  std::vector<TileGrid> out;
  for (int64_t m = 1; m <= max_tiles; ++m)
    for (int64_t n = 1; n <= max_tiles; ++n)
      if (m * n <= max_tiles) out.push_back({m, n});
  return out;
}

TileGrid select_grid(int64_t width, int64_t height, int64_t tile, const std::vector<TileGrid>& candidates) {
  RF_CHECK(width >= 1 && height >= 1, "an image must be at least 1 × 1 pixels", "select_grid", "");
  RF_CHECK(!candidates.empty(), "no candidate grids", "select_grid", "");
  TileGrid best = candidates[0];
  int64_t best_kept = -1, best_waste = 0;
  for (const TileGrid& g : candidates) {
    const double W = double(g.cols * tile), H = double(g.rows * tile);
    const double s = std::min(W / double(width), H / double(height));
    const int64_t kept = std::min(int64_t(std::floor(double(width) * s)) * int64_t(std::floor(double(height) * s)), width * height);
    const int64_t waste = int64_t(W * H) - kept;
    if (kept > best_kept || (kept == best_kept && waste < best_waste)) best = g, best_kept = kept, best_waste = waste;
  }
  return best;
}

TileGrid grid_for(int64_t width, int64_t height, const TilingOptions& o) {
  if (o.mode == "resize") return {1, 1};
  return select_grid(width, height, o.tile, candidate_grids(o.max_tiles));
}

at::Tensor letterbox(const at::Tensor& image, int64_t width, int64_t height, double fill) {
  RF_CHECK(image.dim() == 3 && image.size(1) >= 1 && image.size(2) >= 1, "expected an image [C, H, W]", "letterbox", "");
  const int64_t h = image.size(1), w = image.size(2);
  if (h == height && w == width) return image.to(torch::kFloat32).clone();
  const double s = std::min(double(width) / double(w), double(height) / double(h));
  const int64_t nw = std::clamp<int64_t>(int64_t(std::lround(double(w) * s)), 1, width);
  const int64_t nh = std::clamp<int64_t>(int64_t(std::lround(double(h) * s)), 1, height);
  namespace F = torch::nn::functional;
  at::Tensor scaled = image.to(torch::kFloat32).unsqueeze(0);
  if (nw != w || nh != h)
    scaled = F::interpolate(scaled, F::InterpolateFuncOptions()
                                        .size(std::vector<int64_t>{nh, nw})
                                        .mode(torch::kBilinear)
                                        .align_corners(false)
                                        .antialias(true));
  at::Tensor out = torch::full({image.size(0), height, width}, fill, torch::kFloat32);
  const int64_t x0 = (width - nw) / 2, y0 = (height - nh) / 2;
  out.slice(1, y0, y0 + nh).slice(2, x0, x0 + nw).copy_(scaled.squeeze(0).clamp(-1, 1));
  return out;
}

TiledImage tile_image(const at::Tensor& image, const TilingOptions& o) {
  const int64_t S = o.tile;
  const TileGrid g = grid_for(image.size(2), image.size(1), o);
  const at::Tensor global = letterbox(image, S, S);
  const at::Tensor local = letterbox(image, g.cols * S, g.rows * S);
  // [C, rows·S, cols·S] → [rows·cols, C, S, S], row-major.
  const int64_t C = image.size(0);
  const at::Tensor tiles =
      local.reshape({C, g.rows, S, g.cols, S}).permute({1, 3, 0, 2, 4}).reshape({g.tiles(), C, S, S});
  return {torch::cat({global.unsqueeze(0), tiles}), g};
}

at::Tensor stitch_tiles(const at::Tensor& local_tiles, const TileGrid& g) {
  const int64_t C = local_tiles.size(1), S = local_tiles.size(2);
  RF_CHECK(local_tiles.size(0) == g.tiles(), "tile count does not match the grid", "stitch_tiles", "");
  return local_tiles.reshape({g.rows, g.cols, C, S, S}).permute({2, 0, 3, 1, 4}).reshape({C, g.rows * S, g.cols * S});
}

int64_t image_token_count(const TileGrid& g, int64_t side) {
  return side * (side + 1) + 1 + g.rows * side * (g.cols * side + 1);
}

}  // namespace rflow
