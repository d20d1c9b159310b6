// DeepSeek-VL2's tiling: the grid chosen on hand cases, the token count of every candidate equal to
// what the encoder makes and to the formula, newlines and the separator exactly where the layout
// puts them, tiles that stitch back to the letterboxed view, and the unshuffle against unfold.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/data/dynamic_tiling.h"
#include "rflow/nn/tile_encoder.h"

using namespace rflow;

namespace {

TileEncoderOptions tiny_encoder() {
  TileEncoderOptions o;
  o.width = 16, o.layers = 1, o.heads = 2, o.dim = 12;
  return o;
}

}  // namespace

TEST(DynamicTiling, SelectsTheGridThatKeepsMostPixels) {
  const auto c = candidate_grids(4);
  ASSERT_EQ(c.size(), 8u);  // 1×1 … 1×4, 2×1, 2×2, 3×1, 4×1
  // (width, height) → (cols, rows)
  EXPECT_EQ(select_grid(84, 28, 28, c), (TileGrid{3, 1}));  // a row of three
  EXPECT_EQ(select_grid(28, 84, 28, c), (TileGrid{1, 3}));  // a column of three
  EXPECT_EQ(select_grid(56, 56, 28, c), (TileGrid{2, 2}));
  EXPECT_EQ(select_grid(56, 28, 28, c), (TileGrid{2, 1}));
  EXPECT_EQ(select_grid(28, 28, 28, c), (TileGrid{1, 1}));
  // Tiny images keep all their pixels in every grid: the least waste is one tile.
  EXPECT_EQ(select_grid(5, 5, 28, c), (TileGrid{1, 1}));
  // 100 × 37: 3×1 and 4×1 both keep ⌊100·0.757⌋·28 = 2100 pixels; 3×1 wastes 252, 4×1 1036.
  EXPECT_EQ(select_grid(100, 37, 28, c), (TileGrid{3, 1}));
  // VL2's 384-pixel tiles, up to 9: a 1000 × 500 image keeps all its pixels in 3 × 2 (1152 × 768),
  // 4 × 2 and 3 × 3; 3 × 2 wastes the fewest.
  EXPECT_EQ(select_grid(1000, 500, 384, candidate_grids(9)), (TileGrid{3, 2}));
  TilingOptions resize;
  resize.mode = "resize";
  EXPECT_EQ(grid_for(84, 28, resize), (TileGrid{1, 1}));
}

TEST(DynamicTiling, TokenCountEqualsFormulaAndEncoderForEveryCandidate) {
  // VL2's own numbers (14 tokens per tile side): 210 global + 1 + 14·(14 + 1) for one local tile.
  EXPECT_EQ(image_token_count({1, 1}, 14), 421);
  EXPECT_EQ(image_token_count({3, 2}, 14), 14 * 15 + 1 + 28 * (42 + 1));
  torch::manual_seed(0);
  TileEncoder enc(tiny_encoder());
  ASSERT_EQ(enc->options().side(), 2);
  for (const TileGrid& g : candidate_grids(4)) {
    const at::Tensor tiles = torch::randn({2, 1 + g.tiles(), 1, 28, 28});
    const at::Tensor out = enc->forward(tiles, g.rows, g.cols);
    EXPECT_EQ(out.size(1), image_token_count(g, 2)) << g.name();
    EXPECT_EQ(out.size(1), 6 + 1 + 2 * g.rows * (2 * g.cols + 1)) << g.name();
  }
}

TEST(DynamicTiling, NewlinesAndSeparatorSitAtRowEndsAndTheViewBoundary) {
  torch::manual_seed(1);
  TileEncoder enc(tiny_encoder());
  const TileGrid g{3, 1};
  const at::Tensor out = enc->forward(torch::randn({1, 4, 1, 28, 28}), g.rows, g.cols)[0];
  const at::Tensor nl = enc->image_newline(), sep = enc->view_separator();
  std::vector<int64_t> newline_at, sep_at;
  for (int64_t i = 0; i < out.size(0); ++i) {
    if (torch::equal(out[i], nl)) newline_at.push_back(i);
    if (torch::equal(out[i], sep)) sep_at.push_back(i);
  }
  // Global: rows of 2 tokens + newline (positions 2, 5); separator at 6; local: 2 rows of 3·2
  // tokens + newline (positions 7 + 6 = 13, 20).
  EXPECT_EQ(newline_at, (std::vector<int64_t>{2, 5, 13, 20}));
  EXPECT_EQ(sep_at, (std::vector<int64_t>{6}));
  EXPECT_EQ(out.size(0), 21);
}

TEST(DynamicTiling, TilesStitchBackToTheLetterboxedViewPaddedWithTheMean) {
  const at::Tensor img = torch::rand({1, 28, 70}) * 2 - 1;  // 70 wide: a 3×1 grid, 7 columns padded each side
  TilingOptions o;
  const TiledImage t = tile_image(img, o);
  ASSERT_EQ(t.grid, (TileGrid{3, 1}));
  ASSERT_EQ(t.tiles.size(0), 4);
  const at::Tensor local = stitch_tiles(t.tiles.narrow(0, 1, 3), t.grid);
  EXPECT_TRUE(torch::equal(local, letterbox(img, 84, 28)));
  EXPECT_TRUE(torch::equal(local.slice(2, 7, 77), img));  // no rescaling needed: copied exactly
  EXPECT_EQ(local.slice(2, 0, 7).abs().max().item<float>(), 0.0f);
  EXPECT_EQ(local.slice(2, 77, 84).abs().max().item<float>(), 0.0f);
  // Global: 70 × 28 scaled by 0.4 → 28 × 11, centred (rows 8 … 18), grey above and below.
  const at::Tensor global = t.tiles[0];
  EXPECT_EQ(global.slice(1, 0, 8).abs().max().item<float>(), 0.0f);
  EXPECT_EQ(global.slice(1, 19, 28).abs().max().item<float>(), 0.0f);
  EXPECT_GT(global.slice(1, 8, 19).abs().sum().item<float>(), 10.0f);
  // The composite layouts' own sizes need no scaling: their tiles are their cells.
  const at::Tensor grid = torch::rand({1, 56, 56}) * 2 - 1;
  const TiledImage g = tile_image(grid, o);
  ASSERT_EQ(g.grid, (TileGrid{2, 2}));
  EXPECT_TRUE(torch::equal(g.tiles[2], grid.slice(1, 0, 28).slice(2, 28, 56)));  // row 1, col 2
}

TEST(DynamicTiling, UnshufflePadsRightAndBottomAndMatchesUnfold) {
  for (int64_t gsz : {4, 7}) {
    const at::Tensor x = torch::randn({3, gsz, gsz, 5});
    const at::Tensor u = TileEncoderImpl::unshuffle(x);
    const int64_t s = (gsz + 1) / 2;
    ASSERT_EQ(u.sizes(), (std::vector<int64_t>{3, s, s, 20}));
    // Reference: VL2's zero pad + F.unfold(kernel 2, stride 2), channels (c, dy, dx).
    at::Tensor y = x.permute({0, 3, 1, 2});
    if (gsz % 2) y = torch::constant_pad_nd(y, {0, 1, 0, 1});
    const at::Tensor ref = torch::nn::functional::unfold(y, torch::nn::functional::UnfoldFuncOptions(2).stride(2))
                               .transpose(1, 2)
                               .reshape({3, s, s, 20});
    EXPECT_TRUE(torch::equal(u, ref)) << gsz;
    if (gsz % 2) {
      // The last row of tokens holds zeros in its dy = 1 channels (padding below), the first
      // token its original values (no padding above or left).
      EXPECT_EQ(u.select(1, s - 1).reshape({3, s, 5, 2, 2}).select(3, 1).abs().max().item<float>(), 0.0f);
      EXPECT_EQ(u[0][0][0][0].item<float>(), x[0][0][0][0].item<float>());
    }
  }
}
