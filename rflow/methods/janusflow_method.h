// JanusFlow's training objective (method "janusflow", for the janusflow backbone): each step, the
// data's captioned images train generation — rectified flow with prompt dropout, plus REPA: the
// cosine of the REPA head's latent states to a frozen network's features of the clean image — and
// a batch of questions about composites trains understanding (cross-entropy on the answers only),
// in the und:gen ratio. Named parts can be frozen (no gradient reaches them).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rflow/core/registry.h"
#include "rflow/data/dynamic_tiling.h"
#include "rflow/methods/method_config.h"

namespace rflow {

struct JanusFlowTrainOptions {
  double und_ratio = 0.5;                 // understanding rows per generation row (und:gen = 1:2)
  std::string und_layouts = "row2";
  std::vector<std::string> questions{"describe", "where", "count"};
  TilingOptions tiling;
  std::string data_path;                  // Fashion-MNIST for the questions ("" = the Debian package's)
  double repa_weight = 0.5;               // λ of L_RF + λ·L_REPA (REPA's default)
  std::string repa_target = "percept";
  std::vector<std::string> freeze;

  template <class V>
  void visit(V& v) {
    v("und_ratio", und_ratio, "understanding questions per generated image in each step (0.5: und:gen = 1:2; 0 = generation only)");
    v("und_layouts", und_layouts, "composite layouts the understanding questions are about (single, row2, …, several comma-separated, or all)");
    v("questions", questions, "question kinds (describe, where, count)");
    v.section("tiling", tiling);
    v("data_path", data_path, "Fashion-MNIST folder of the questions' garments (\"\" = /usr/share/datasets/fashion-mnist)");
    v("repa_weight", repa_weight, "weight λ of the REPA loss (0 = none)");
    v("repa_target", repa_target, "frozen network whose features REPA aligns to (percept: the shipped perceptual network)");
    v("freeze", freeze, "parts that get no gradient: lm, vision, gen_encoder, gen_decoder, repa_head");
  }
  void validate(const std::string& where) const;
};

// Frozen features of clean images on the generation's latent grid: [B, 1, H, W] → [B, N, D], no
// gradient. Registered by the image code ("percept"); factories get the sample shape and the patch.
using FeatureGrid = std::function<at::Tensor(const at::Tensor& images)>;
using FeatureGridFactory = std::function<FeatureGrid(const std::vector<int64_t>& shape, int64_t patch)>;
Registry<FeatureGridFactory>& repa_targets();

MethodEntry janusflow_method_entry();

}  // namespace rflow
