// The vision side of DeepSeek-VL2 in small: each S×S tile goes through a ViT (patch p, learned
// positions, pre-norm blocks), its g×g patch features are pixel-unshuffled 2×2 (zero-padded on the
// right and bottom when g is odd) and mapped to the language model's width by a two-layer GELU MLP;
// the views are then laid out as tokens — global rows each ending with `image_newline`, one
// `view_separator`, the local tiles stitched into one grid whose rows each end with a newline.
#pragma once

#include <string>
#include <vector>

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

namespace rflow {

struct TileEncoderOptions {
  int64_t channels = 1;
  int64_t tile = 28;   // S (the tiling's tile)
  int64_t patch = 7;   // S/p patches per side
  int64_t width = 64;  // the ViT's width
  int64_t layers = 2;
  int64_t heads = 4;
  int64_t dim = 128;   // the language model's width (set by the model that owns it)

  template <class V>
  void visit(V& v) {
    v("patch", patch, "ViT patch size (the tile side must be a multiple)");
    v("width", width, "ViT width");
    v("layers", layers, "ViT blocks");
    v("heads", heads, "ViT attention heads");
  }
  void validate(const std::string& where) const;
  int64_t grid() const { return tile / patch; }    // g: patches per side
  int64_t side() const { return (grid() + 1) / 2; }  // tokens per side of a tile after the 2×2 unshuffle
};

class ViTBlockImpl : public torch::nn::Cloneable<ViTBlockImpl> {
 public:
  ViTBlockImpl(int64_t width, int64_t heads);
  void reset() override;
  at::Tensor forward(const at::Tensor& x);

 private:
  int64_t width_, heads_;
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Linear qkv_{nullptr}, proj_{nullptr}, fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(ViTBlock);

class TileEncoderImpl : public torch::nn::Cloneable<TileEncoderImpl> {
 public:
  explicit TileEncoderImpl(TileEncoderOptions opt);
  void reset() override;
  // tiles [M, C, S, S] → [M, side, side, dim]: ViT, 2×2 unshuffle, MLP adaptor.
  at::Tensor tile_tokens(const at::Tensor& tiles);
  // tiles [B, 1 + rows·cols, C, S, S] (global first) → the image tokens [B, N, dim] in layout order,
  // N = image_token_count({cols, rows}, side).
  at::Tensor forward(const at::Tensor& tiles, int64_t rows, int64_t cols);
  // The 2×2 unshuffle alone: [M, g, g, C] → [M, ⌈g/2⌉, ⌈g/2⌉, 4C], channels ordered (c, dy, dx).
  static at::Tensor unshuffle(const at::Tensor& x);
  const TileEncoderOptions& options() const { return opt_; }
  at::Tensor image_newline() const { return newline_; }
  at::Tensor view_separator() const { return separator_; }

 private:
  TileEncoderOptions opt_;
  torch::nn::Conv2d patch_{nullptr};
  at::Tensor pos_, newline_, separator_;
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Linear adapt1_{nullptr}, adapt2_{nullptr};
};
TORCH_MODULE(TileEncoder);

}  // namespace rflow
