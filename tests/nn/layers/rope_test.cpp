// Rotary embeddings and the attention function: scores after rotation depend only on position
// offsets (1-D and 2-D), rotation keeps norms, Hunyuan-DiT's centred coordinates, and attention
// against a plain reference with masks (all-masked rows read nothing).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/layers/attention.h"
#include "rflow/nn/layers/rope.h"

using namespace rflow;

TEST(Rope, ScoresDependOnlyOnPositionOffsets) {
  torch::manual_seed(0);
  const auto dbl = torch::TensorOptions().dtype(torch::kFloat64);
  const auto q = torch::randn({5, 16}, dbl), k = torch::randn({5, 16}, dbl);
  const auto pos = torch::tensor({0.0, 1.0, 3.0, 7.0, 2.5}, dbl);
  auto scores = [&](const at::Tensor& p) {
    const auto a = rope_angles(p, 16);
    return torch::matmul(apply_rope(q, a), apply_rope(k, a).t());
  };
  EXPECT_TRUE(torch::allclose(scores(pos), scores(pos + 11.25), 1e-10, 1e-10));
  EXPECT_FALSE(torch::allclose(scores(pos), scores(pos * 2.0), 1e-3, 1e-3));  // offsets changed
  // Norms are kept: a rotation per pair.
  const auto rq = apply_rope(q, rope_angles(pos, 16));
  EXPECT_TRUE(torch::allclose(rq.norm(2, -1), q.norm(2, -1), 1e-12, 1e-12));
  // 2-D: shifting every column by one amount and every row by another leaves the scores.
  auto [col, row] = patch_coordinates(3, 4);
  col = col.to(torch::kFloat64), row = row.to(torch::kFloat64);
  const auto q2 = torch::randn({12, 16}, dbl), k2 = torch::randn({12, 16}, dbl);
  auto scores2 = [&](const at::Tensor& c, const at::Tensor& r) {
    const auto a = rope_angles_2d(c, r, 16);
    return torch::matmul(apply_rope(q2, a), apply_rope(k2, a).t());
  };
  EXPECT_TRUE(torch::allclose(scores2(col, row), scores2(col + 5.0, row - 2.5), 1e-10, 1e-10));
  EXPECT_FALSE(torch::allclose(scores2(col, row), scores2(row, col), 1e-3, 1e-3));  // transposed grid
  // The first half of each head follows the column, the second the row.
  const auto a = rope_angles_2d(col, row, 16);
  EXPECT_TRUE(torch::allclose(a.slice(1, 0, 4), rope_angles(col, 8)));
  EXPECT_TRUE(torch::allclose(a.slice(1, 4, 8), rope_angles(row, 8)));
  EXPECT_THROW(rope_angles_2d(col, row, 6), Error);
  EXPECT_THROW(rope_angles(pos, 5), Error);
}

TEST(Rope, CentredCoordinatesFitEveryGridIntoTheBaseBox) {
  // A square grid of the base size: integer positions 0 … B−1, row-major.
  auto [c, r] = patch_coordinates(4, 4, 4);
  EXPECT_TRUE(torch::equal(c, torch::arange(4, torch::kFloat).repeat({4})));
  EXPECT_TRUE(torch::equal(r, torch::arange(4, torch::kFloat).repeat_interleave(4)));
  auto [c0, r0] = patch_coordinates(4, 4, 0);
  EXPECT_TRUE(torch::equal(c0, c) && torch::equal(r0, r));
  // Twice the resolution: the same box in half steps.
  auto [c2, r2] = patch_coordinates(8, 8, 4);
  EXPECT_FLOAT_EQ(c2.max().item<float>(), 3.5f);
  EXPECT_FLOAT_EQ(c2[1].item<float>(), 0.5f);
  // A 4 × 8 grid in an 8 × 8 box: columns span it, rows are centred (offset 2).
  auto [c3, r3] = patch_coordinates(4, 8, 8);
  EXPECT_FLOAT_EQ(c3.min().item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(c3.max().item<float>(), 7.0f);
  EXPECT_FLOAT_EQ(r3.min().item<float>(), 2.0f);
  EXPECT_FLOAT_EQ(r3.max().item<float>(), 5.0f);
  // And a tall one the other way round.
  auto [c4, r4] = patch_coordinates(8, 4, 8);
  EXPECT_FLOAT_EQ(c4.min().item<float>(), 2.0f);
  EXPECT_FLOAT_EQ(r4.max().item<float>(), 7.0f);
}

TEST(Attention, MatchesThePlainFormulaWithMasks) {
  torch::manual_seed(1);
  const auto dbl = torch::TensorOptions().dtype(torch::kFloat64);
  const auto q = torch::randn({2, 3, 4, 8}, dbl), k = torch::randn({2, 3, 6, 8}, dbl), v = torch::randn({2, 3, 6, 5}, dbl);
  const auto ref = torch::matmul(torch::softmax(torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(8.0), -1), v);
  EXPECT_TRUE(torch::allclose(attention(q, k, v), ref, 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(attention(q, k, v, {}, 0.5),
                              torch::matmul(torch::softmax(torch::matmul(q, k.transpose(-2, -1)) * 0.5, -1), v)));
  // Key mask: sample 0 sees keys 0–2, sample 1 none (reads 0, no NaN).
  auto keys = torch::zeros({2, 6}, torch::kBool);
  keys[0].slice(0, 0, 3).fill_(true);
  const auto m = attention(q, k, v, AttentionMask{keys, false});
  const auto ref0 = torch::matmul(
      torch::softmax(torch::matmul(q[0], k[0].slice(1, 0, 3).transpose(-2, -1)) / std::sqrt(8.0), -1), v[0].slice(1, 0, 3));
  EXPECT_TRUE(torch::allclose(m[0], ref0, 1e-12, 1e-12));
  EXPECT_EQ(m[1].abs().max().item<double>(), 0.0);
  // Causal with more keys than queries: the queries are the last four of six positions.
  const auto c = attention(q, k, v, AttentionMask{{}, true});
  for (int64_t i = 0; i < 4; ++i) {
    const int64_t seen = i + 3;
    const auto r = torch::matmul(
        torch::softmax(torch::matmul(q.select(2, i).unsqueeze(2), k.slice(2, 0, seen).transpose(-2, -1)) / std::sqrt(8.0), -1),
        v.slice(2, 0, seen));
    EXPECT_TRUE(torch::allclose(c.select(2, i), r.squeeze(2), 1e-12, 1e-12)) << i;
  }
}

// The one-pass float path equals the pairwise formula in value and gradient, for contiguous and
// transposed (per-head view) inputs.
TEST(Rope, TheFusedFloatPathEqualsThePairwiseFormula) {
  torch::manual_seed(2);
  const auto angles = rope_angles_2d(std::get<0>(patch_coordinates(3, 4)), std::get<1>(patch_coordinates(3, 4)), 8);
  const auto base = torch::randn({2, 12, 3, 8}).transpose(1, 2);  // [B, H, T, D], not contiguous
  auto x1 = base.detach().clone().requires_grad_(true);
  auto x2 = base.detach().to(torch::kFloat64).requires_grad_(true);
  const auto y1 = apply_rope(x1.transpose(1, 2).transpose(1, 2), angles);
  const auto y2 = apply_rope(x2, angles.to(torch::kFloat64));  // the ATen formula in double
  EXPECT_TRUE(torch::allclose(y1.to(torch::kFloat64), y2, 1e-6, 1e-6));
  const auto up = torch::randn({2, 3, 12, 8});
  (y1 * up).sum().backward();
  (y2 * up.to(torch::kFloat64)).sum().backward();
  EXPECT_TRUE(torch::allclose(x1.grad().to(torch::kFloat64), x2.grad(), 1e-6, 1e-6));
  torch::NoGradGuard ng;
  EXPECT_TRUE(torch::allclose(apply_rope(base, angles).to(torch::kFloat64), y2, 1e-6, 1e-6));
}

TEST(Rope, SinCosGridPositionsAreTheSinesAndCosinesOfColumnAndRow) {
  // dim 4: one frequency (1) for the column, one for the row: [sin c, sin r, cos c, cos r].
  const at::Tensor p = sincos_positions_2d(2, 3, 4);
  ASSERT_EQ(p.sizes(), (std::vector<int64_t>{6, 4}));
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t c = 0; c < 3; ++c) {
      const at::Tensor v = p[r * 3 + c];
      EXPECT_NEAR(v[0].item<double>(), std::sin(double(c)), 1e-6);
      EXPECT_NEAR(v[1].item<double>(), std::sin(double(r)), 1e-6);
      EXPECT_NEAR(v[2].item<double>(), std::cos(double(c)), 1e-6);
      EXPECT_NEAR(v[3].item<double>(), std::cos(double(r)), 1e-6);
    }
  // Every patch of a 7 × 14 grid gets its own vector.
  const at::Tensor q = sincos_positions_2d(7, 14, 128);
  const at::Tensor d = torch::cdist(q.unsqueeze(0), q.unsqueeze(0)).squeeze(0) + torch::eye(98) * 10;
  EXPECT_GT(d.min().item<double>(), 1e-3);
}
