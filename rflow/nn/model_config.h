// Backbone configuration (one struct for every architecture; each reads the fields it uses) and
// the factory that builds a VelocityField from it by name.
#pragma once

#include <string>
#include <vector>

#include "rflow/core/registry.h"
#include "rflow/flow/velocity_field.h"

namespace rflow {

struct ModelConfig {
  std::string arch = "mlp";
  int64_t hidden = 256;
  int64_t depth = 3;
  std::string activation = "silu";
  std::string time_embed = "sinusoidal";
  int64_t time_dim = 64;
  double time_scale = 100.0;
  int64_t num_classes = 0;
  // U-Net (images)
  int64_t channels = 32;
  std::vector<int64_t> channel_mult{1, 2, 2};
  int64_t res_blocks = 2;
  std::vector<int64_t> attn_resolutions{7};
  int64_t heads = 4;
  int64_t norm_groups = 8;
  double dropout = 0.0;

  template <class V>
  void visit(V& v) {
    v("arch", arch, "backbone: mlp | unet");
    v("hidden", hidden, "hidden width");
    v("depth", depth, "number of hidden layers");
    v("activation", activation, "silu | gelu | tanh | relu");
    v("time_embed", time_embed, "sinusoidal | fourier");
    v("time_dim", time_dim, "time embedding size (even)");
    v("time_scale", time_scale, "t is multiplied by this before the embedding (sinusoidal; fourier: frequency std). 100 keeps 2-D fields smooth in t: dopri5 needs 112 NFE on the demo vs 438 at 1000");
    v("num_classes", num_classes, "0 = unconditional; > 0 adds a label embedding (label -1 = dropped)");
    v("channels", channels, "unet: channels at full resolution");
    v("channel_mult", channel_mult, "unet: channel multiplier per resolution level (each level after the first halves H and W)");
    v("res_blocks", res_blocks, "unet: residual blocks per level");
    v("attn_resolutions", attn_resolutions, "unet: feature-map sizes (H) with self-attention, e.g. [7] or [14, 7] at 28×28");
    v("heads", heads, "unet: attention heads");
    v("norm_groups", norm_groups, "unet: GroupNorm groups (must divide every level's channels)");
    v("dropout", dropout, "unet: dropout inside residual blocks (the reference: 0.1–0.15)");
  }
  void validate() const;
};

using ModelFactory = std::function<VelocityField(const ModelConfig&, const std::vector<int64_t>& sample_shape)>;
const Registry<ModelFactory>& models();

VelocityField make_model(const ModelConfig& cfg, const std::vector<int64_t>& sample_shape);
int64_t count_parameters(const torch::nn::Module& m);

}  // namespace rflow
