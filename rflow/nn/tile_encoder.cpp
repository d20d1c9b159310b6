#include "rflow/nn/tile_encoder.h"

#include <cmath>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/layers/attention.h"

namespace rflow {

void TileEncoderOptions::validate(const std::string& where) const {
  RF_CHECK(patch >= 1 && tile % patch == 0, "the tile side (" + std::to_string(tile) + ") must be a multiple of patch",
           where + ".patch", "e.g. patch 7 for 28-pixel tiles");
  RF_CHECK(width >= 8 && heads >= 1 && width % heads == 0, "width must be >= 8 and divisible by heads", where + ".width", "");
  RF_CHECK(layers >= 1 && channels >= 1 && dim >= 8, "layers and channels must be >= 1", where + ".layers", "");
}

ViTBlockImpl::ViTBlockImpl(int64_t width, int64_t heads) : width_(width), heads_(heads) { reset(); }

void ViTBlockImpl::reset() {
  norm1_ = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width_})));
  norm2_ = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width_})));
  qkv_ = register_module("qkv", torch::nn::Linear(width_, 3 * width_));
  proj_ = register_module("proj", torch::nn::Linear(width_, width_));
  fc1_ = register_module("fc1", torch::nn::Linear(width_, 4 * width_));
  fc2_ = register_module("fc2", torch::nn::Linear(4 * width_, width_));
}

at::Tensor ViTBlockImpl::forward(const at::Tensor& x) {
  const int64_t B = x.size(0), T = x.size(1), hd = width_ / heads_;
  const auto qkv = qkv_(norm1_(x)).reshape({B, T, 3, heads_, hd}).permute({2, 0, 3, 1, 4});
  const at::Tensor a = attention(qkv[0], qkv[1], qkv[2]).transpose(1, 2).reshape({B, T, width_});
  const at::Tensor h = x + proj_(a);
  return h + fc2_(torch::gelu(fc1_(norm2_(h))));
}

TileEncoderImpl::TileEncoderImpl(TileEncoderOptions opt) : opt_(std::move(opt)) {
  opt_.validate("tile encoder");
  reset();
}

void TileEncoderImpl::reset() {
  const int64_t g = opt_.grid(), w = opt_.width, d = opt_.dim;
  patch_ = register_module("patch", torch::nn::Conv2d(torch::nn::Conv2dOptions(opt_.channels, w, opt_.patch).stride(opt_.patch)));
  pos_ = register_parameter("pos", torch::randn({1, g * g, w}) * 0.02);
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < opt_.layers; ++i) blocks_->push_back(ViTBlock(w, opt_.heads));
  norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({w})));
  adapt1_ = register_module("adapt1", torch::nn::Linear(4 * w, d));
  adapt2_ = register_module("adapt2", torch::nn::Linear(d, d));
  // VL2 draws both learned separators with std 1/√d.
  newline_ = register_parameter("image_newline", torch::randn({d}) / std::sqrt(double(d)));
  separator_ = register_parameter("view_separator", torch::randn({d}) / std::sqrt(double(d)));
}

at::Tensor TileEncoderImpl::unshuffle(const at::Tensor& x) {
  const int64_t M = x.size(0), g = x.size(1), C = x.size(3), s = (g + 1) / 2;
  at::Tensor y = x.permute({0, 3, 1, 2});  // [M, C, g, g]
  if (g % 2) y = torch::constant_pad_nd(y, {0, 1, 0, 1});
  // unfold with kernel = stride = 2, as VL2's F.unfold: channels (c, dy, dx), positions row-major.
  y = y.reshape({M, C, s, 2, s, 2}).permute({0, 2, 4, 1, 3, 5}).reshape({M, s, s, 4 * C});
  return y;
}

at::Tensor TileEncoderImpl::tile_tokens(const at::Tensor& tiles) {
  const int64_t M = tiles.size(0), g = opt_.grid();
  at::Tensor h = patch_(tiles).flatten(2).transpose(1, 2) + pos_;  // [M, g², w]
  for (const auto& b : *blocks_) h = b->as<ViTBlockImpl>()->forward(h);
  h = unshuffle(norm_(h).reshape({M, g, g, opt_.width}));
  return adapt2_(torch::gelu(adapt1_(h)));
}

at::Tensor TileEncoderImpl::forward(const at::Tensor& tiles, int64_t rows, int64_t cols) {
  RF_CHECK(tiles.dim() == 5 && tiles.size(1) == 1 + rows * cols, "expected tiles [B, 1 + rows·cols, C, S, S]",
           "tile encoder", "");
  const int64_t B = tiles.size(0), s = opt_.side(), d = opt_.dim;
  const at::Tensor t = tile_tokens(tiles.flatten(0, 1)).reshape({B, 1 + rows * cols, s, s, d});
  const auto with_newlines = [&](const at::Tensor& grid) {  // [B, R, Cc, d] → [B, R·(Cc + 1), d]
    const at::Tensor nl = newline_.expand({B, grid.size(1), 1, d});
    return torch::cat({grid, nl}, 2).flatten(1, 2);
  };
  const at::Tensor global = with_newlines(t.select(1, 0));
  // Local tiles [B, rows, cols, s, s, d] → one grid [B, rows·s, cols·s, d].
  const at::Tensor local = t.narrow(1, 1, rows * cols).reshape({B, rows, cols, s, s, d}).permute({0, 1, 3, 2, 4, 5}).reshape({B, rows * s, cols * s, d});
  return torch::cat({global, separator_.expand({B, 1, d}), with_newlines(local)}, 1);
}

}  // namespace rflow
