#include "rflow/nn/model_config.h"

#include <torch/torch.h>

#include "rflow/nn/dit.h"
#include "rflow/nn/janusflow.h"
#include "rflow/nn/mlp.h"
#include "rflow/nn/temporal_unet.h"
#include "rflow/nn/torchscript_field.h"
#include "rflow/nn/unet.h"

namespace rflow {

Registry<ModelEntry>& models() {
  static Registry<ModelEntry> reg = [] {
    Registry<ModelEntry> r("model architecture");
    r.add("mlp", "MLP on flat vectors with a time embedding (2-D and tabular data)", mlp_entry());
    r.add("unet", "U-Net on [C, H, W] images: residual blocks with GroupNorm, self-attention at low resolutions",
          unet_entry());
    r.add("temporal_unet",
          "1-D convolutional U-Net over action chunks [H, A] (policies), FiLM-conditioned on time and observations",
          temporal_unet_entry());
    r.add("dit",
          "diffusion transformer on [C, H, W] images: patches as tokens, adaLN-Zero, 2-D rotary positions, "
          "long skips, optional cross-attention and DeepSeekMoE feed-forward",
          dit_entry());
    r.add("janusflow",
          "JanusFlow: one MLA + MoE transformer that answers about images (decoupled ViT encoder) and draws them by "
          "rectified flow (ConvNeXt generation encoder/decoder, prompt KV reused across ODE steps)",
          janusflow_entry());
    r.add("torchscript", "a network saved from Python with torch.jit.script / trace (model.torchscript.path)",
          torchscript_entry());
    return r;
  }();
  return reg;
}

AnyOptions& ModelConfig::section(const std::string& name) const {
  auto it = options.find(name);
  if (it == options.end()) {
    // Registered after this config was made (a program adding its own backbone): take its defaults.
    it = options.emplace(name, models().get(name, "model.arch").options()).first;
  }
  return it->second;
}

void ModelConfig::validate(const std::string& where) const {
  models().get(arch, where + ".arch");
  RF_CHECK(num_classes >= 0, "num_classes must be >= 0", where + ".num_classes", "");
  RF_CHECK(time_embed == "sinusoidal" || time_embed == "fourier", "unknown time embedding '" + time_embed + "'",
           where + ".time_embed", "use sinusoidal or fourier");
  RF_CHECK(std::isfinite(time_scale) && time_scale > 0, "time_scale must be > 0", where + ".time_scale", "");
  section(arch).validate(where + "." + arch);
}

VelocityField make_model(const ModelConfig& cfg, const std::vector<int64_t>& sample_shape) {
  cfg.validate();
  return models().get(cfg.arch, "model.arch").make(cfg, sample_shape);
}

int64_t count_parameters(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

std::string describe_model(const ModelConfig& cfg) {
  const auto& e = models().get(cfg.arch, "model.arch");
  return e.describe ? cfg.arch + " (" + e.describe(cfg) + ")" : cfg.arch;
}

}  // namespace rflow
