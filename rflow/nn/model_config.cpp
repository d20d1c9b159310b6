#include "rflow/nn/model_config.h"

#include <torch/torch.h>

#include "rflow/nn/mlp.h"
#include "rflow/nn/unet.h"

namespace rflow {

void ModelConfig::validate() const {
  models().get(arch, "model.arch");
  RF_CHECK(hidden >= 1 && hidden <= (1 << 16), "hidden must be in [1, 65536]", "model.hidden", "");
  RF_CHECK(depth >= 1 && depth <= 64, "depth must be in [1, 64]", "model.depth", "");
  RF_CHECK(activation == "silu" || activation == "gelu" || activation == "tanh" || activation == "relu",
           "unknown activation '" + activation + "'", "model.activation", "use silu, gelu, tanh or relu");
  RF_CHECK(time_dim >= 2 && time_dim % 2 == 0, "time_dim must be even and >= 2", "model.time_dim", "");
  RF_CHECK(num_classes >= 0, "num_classes must be >= 0", "model.num_classes", "");
  if (arch != "unet") return;
  RF_CHECK(channels >= 1 && !channel_mult.empty() && res_blocks >= 1 && heads >= 1 && norm_groups >= 1,
           "unet sizes must be positive (and channel_mult non-empty)", "model", "");
  for (auto m : channel_mult) {
    RF_CHECK(m >= 1, "channel_mult entries must be >= 1", "model.channel_mult", "");
    RF_CHECK((channels * m) % norm_groups == 0 && (channels * m) % heads == 0,
             "channels × " + std::to_string(m) + " = " + std::to_string(channels * m) + " is not divisible by norm_groups and heads",
             "model.channels", "e.g. channels = 32 with norm_groups = 8 and heads = 4");
  }
  RF_CHECK(dropout >= 0 && dropout < 1, "dropout must be in [0, 1)", "model.dropout", "");
}

const Registry<ModelFactory>& models() {
  static const Registry<ModelFactory> reg = [] {
    Registry<ModelFactory> r("model architecture");
    r.add("mlp", "MLP on flat vectors with a time embedding (2-D and tabular data)",
          [](const ModelConfig& c, const std::vector<int64_t>& shape) -> VelocityField {
            return std::make_shared<MlpVelocityImpl>(c, shape);
          });
    r.add("unet", "U-Net on [C, H, W] images: residual blocks with GroupNorm, self-attention at low resolutions",
          [](const ModelConfig& c, const std::vector<int64_t>& shape) -> VelocityField {
            return std::make_shared<UNetImpl>(c, shape);
          });
    return r;
  }();
  return reg;
}

VelocityField make_model(const ModelConfig& cfg, const std::vector<int64_t>& sample_shape) {
  cfg.validate();
  return models().get(cfg.arch, "model.arch")(cfg, sample_shape);
}

int64_t count_parameters(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace rflow
