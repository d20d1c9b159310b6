// Backbone selection: the settings every backbone shares (architecture name, classes, time
// embedding) plus one options section per registered backbone (model.mlp.*, model.unet.*, ...),
// and the registry that builds a VelocityField from them by name. A new backbone is one file with
// its options struct and module, plus one models().add(...) line.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "rflow/core/options.h"
#include "rflow/core/registry.h"
#include "rflow/flow/velocity_field.h"

namespace rflow {

struct ModelConfig;

struct ModelEntry {
  std::function<AnyOptions()> options;  // default options of this backbone
  std::function<VelocityField(const ModelConfig&, const std::vector<int64_t>& sample_shape)> make;
  std::function<std::string(const ModelConfig&)> describe;  // size in a few words (optional)
  // Whether it can be conditioned on class labels (num_classes > 0); false: on prompts only.
  bool labels = true;
};
// Mutable: programs and tests may register their own backbones before building configs.
Registry<ModelEntry>& models();

struct ModelConfig {
  std::string arch = "mlp";
  int64_t num_classes = 0;
  std::string time_embed = "sinusoidal";
  double time_scale = 100.0;
  // One section per registered backbone; mutable so that a backbone registered after this config
  // was made gets its defaults on first access, also through a const config.
  mutable OptionsMap options = default_options(models());

  template <class V>
  void visit(V& v) {
    v("arch", arch, "backbone: " + models().joined() + " (each has its own section model.<arch>.*)");
    v("num_classes", num_classes, "0 = unconditional; > 0 adds a label embedding (label -1 = dropped)");
    v("time_embed", time_embed, "sinusoidal | fourier");
    v("time_scale", time_scale, "t is multiplied by this before the embedding (sinusoidal; fourier: frequency std). 100 keeps 2-D fields smooth in t: dopri5 needs 112 NFE on the demo vs 438 at 1000");
    for (auto& [name, o] : options) v.section(name, o);
    // Keys of the single flat struct this replaced, so old configs and checkpoints still load.
    for (const char* k : {"hidden", "depth", "activation", "time_dim"}) v.alias(k, std::string("mlp.") + k);
    for (const char* k : {"channels", "channel_mult", "res_blocks", "attn_resolutions", "heads", "norm_groups", "dropout"})
      v.alias(k, std::string("unet.") + k);
  }
  void validate(const std::string& where = "model") const;

  // The options of backbone `name` (default: the selected one) as their own type.
  template <class T>
  T& get(const std::string& name) {
    return section(name).as<T>();
  }
  template <class T>
  const T& get(const std::string& name) const {
    return section(name).as<T>();
  }
  AnyOptions& section(const std::string& name) const;
};

VelocityField make_model(const ModelConfig& cfg, const std::vector<int64_t>& sample_shape);
int64_t count_parameters(const torch::nn::Module& m);
// One line for logs and reports: "mlp (3 × 256)", "unet (32 channels)".
std::string describe_model(const ModelConfig& cfg);

}  // namespace rflow
