#include "rflow/vl/vl_model.h"

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <tuple>

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/data/image_questions.h"
#include "rflow/data/vqa_task.h"
#include "rflow/io/image_file.h"
#include "rflow/io/safetensors.h"
#include "rflow/methods/janusflow_method.h"
#include "rflow/nn/janusflow.h"
#include "rflow/nn/token_decoding.h"
#include "rflow/nn/vision_language_model.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/text/tokenizer.h"
#include "rflow/train/checkpoint.h"

namespace rflow {

namespace fs = std::filesystem;

std::string vl_weights(const std::string& run_dir, const std::string& which) {
  return (fs::path(run_dir) / which / "model.safetensors").string();
}

TilingOptions vl_tiling(const VlRunConfig& cfg, const std::string& which) {
  TilingOptions t = cfg.tiling;
  if (which == "baseline") t.mode = "resize";
  return t;
}

// What answering needs from either kind of model: its tokenizer and ids, how many placeholders an
// image takes, how a prompt becomes input embeddings, and the transformer that decodes.
struct VlModel::Impl {
  std::unique_ptr<text::Tokenizer> tok;
  std::shared_ptr<torch::nn::Module> owner;  // keeps the model alive
  TokenTransformer lm{nullptr};
  int64_t image_id = 0, answer_id = 0, channels = 1;
  std::function<int64_t(const TiledImage&, const at::Tensor& image)> image_tokens;
  std::function<at::Tensor(const at::Tensor& ids, const at::Tensor& tiles, const TileGrid& g, const at::Tensor& images)> embed;
};

bool is_janusflow_run(const std::string& run_dir) {
  const fs::path cfg = fs::path(run_dir) / "config.json";
  if (!fs::exists(cfg)) return false;
  const auto j = nlohmann::json::parse(io::read_file(cfg.string()), nullptr, false);
  return !j.is_discarded() && j.contains("model") && j["model"].value("arch", "") == "janusflow";
}

namespace {

// A JanusFlow run's understanding settings, as a vision-language run config (its questions,
// layouts and tiling are the method's).
VlRunConfig janusflow_vl_config(const RunConfig& rc, const std::string& run_dir) {
  VlRunConfig c;
  const auto& o = rc.method.get<JanusFlowTrainOptions>("janusflow");
  c.place_at(run_dir);
  c.data.path = o.data_path;
  c.data.layouts = o.und_layouts;
  c.data.questions = o.questions;
  c.tiling = o.tiling;
  c.stages = {"eval"};
  return c;
}

}  // namespace

VlModel::VlModel(const std::string& run_dir, const std::string& which) : impl_(std::make_unique<Impl>()) {
  if (is_janusflow_run(run_dir)) {
    RF_CHECK(which == "model", "a JanusFlow run has one model (no resize baseline)", "--model", "leave it out");
    LoadedModel lm = load_model(run_dir, /*use_ema=*/true, torch::kCPU);
    auto jf = std::dynamic_pointer_cast<JanusFlowImpl>(lm.network);
    RF_CHECK(jf != nullptr, "the run's network is not a JanusFlow model", run_dir, "");
    unified_ = true;
    cfg_ = janusflow_vl_config(lm.cfg, run_dir);
    tiling_ = cfg_.tiling;
    tiling_.tile = jf->vision()->options().tile;
    impl_->tok = question_tokenizer(cfg_.data.questions);
    impl_->owner = jf;
    impl_->lm = jf->lm();
    impl_->image_id = jf->image_id(), impl_->answer_id = jf->answer_id();
    const int64_t side = jf->vision()->options().side();
    const bool shared = jf->options().shared_encoder;
    impl_->image_tokens = [jf, side, shared](const TiledImage& t, const at::Tensor& img) {
      return shared ? jf->shared_image_tokens(img.size(1), img.size(2)) : image_token_count(t.grid, side);
    };
    impl_->embed = [jf](const at::Tensor& ids, const at::Tensor& tiles, const TileGrid& g, const at::Tensor& images) {
      return jf->understanding_embeddings(ids, tiles, g.rows, g.cols, images);
    };
    return;
  }
  cfg_ = load_vl_config(run_dir, {});
  tiling_ = vl_tiling(cfg_, which);
  const std::string weights = vl_weights(run_dir, which);
  io::check_readable_file(weights, which == "baseline" ? "the baseline stage has not run: `rflow vl train RUN --stage baseline`"
                                                       : "the train stage has not finished: `rflow vl train RUN` resumes it");
  impl_->tok = question_tokenizer(cfg_.data.questions);
  VisionLanguageOptions o = cfg_.model;
  o.vision.tile = tiling_.tile;
  VisionLanguageModel m(o, impl_->tok->vocab_size());
  assign_module_tensors(*m, io::load_safetensors(weights).tensors, weights);
  m->eval();
  impl_->owner = m.ptr();
  impl_->lm = m->lm();
  impl_->image_id = m->image_id(), impl_->answer_id = m->answer_id();
  const int64_t side = m->vision()->options().side();
  impl_->image_tokens = [side](const TiledImage& t, const at::Tensor&) { return image_token_count(t.grid, side); };
  impl_->embed = [m](const at::Tensor& ids, const at::Tensor& tiles, const TileGrid& g, const at::Tensor&) mutable {
    return m->input_embeddings(ids, tiles, g.rows, g.cols);
  };
}

VlModel::~VlModel() = default;

const TokenTransformerOptions& VlModel::lm_options() const { return impl_->lm->options(); }

at::Tensor VlModel::read_image(const std::string& path) {
  const at::Tensor img = io::read_image(path, 1);  // [H, W, 1] uint8
  return img.permute({2, 0, 1}).to(torch::kFloat32).div(127.5).sub(1.0);
}

std::vector<std::string> VlModel::answer(const std::vector<at::Tensor>& images, const std::vector<std::string>& questions,
                                         const SamplingOptions& o, uint64_t seed, VlAnswerStats* stats) {
  RF_CHECK(images.size() == questions.size(), "one question per image", "vl answer", "");
  torch::NoGradGuard ng;
  Impl& m = *impl_;
  // Group by (grid, image size, prompt length): a group decodes as one batch, every row at the same position.
  std::map<std::tuple<std::string, std::vector<int64_t>, size_t>, std::vector<size_t>> groups;
  std::vector<TiledImage> tiled;
  std::vector<std::vector<int64_t>> prompts;
  for (size_t i = 0; i < images.size(); ++i) {
    RF_CHECK(images[i].dim() == 3 && images[i].size(0) == m.channels,
             "image " + std::to_string(i) + " must be [" + std::to_string(m.channels) + ", H, W]", "vl answer", "");
    tiled.push_back(tile_image(images[i], tiling_));
    prompts.push_back(vqa_prompt(*m.tok, questions[i], m.image_tokens(tiled.back(), images[i]), m.image_id, m.answer_id));
    groups[{tiled.back().grid.name(), images[i].sizes().vec(), prompts.back().size()}].push_back(i);
  }
  std::vector<std::string> out(images.size());
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& [key, rows] : groups) {
    std::vector<at::Tensor> tiles, ids, imgs;
    for (size_t i : rows)
      tiles.push_back(tiled[i].tiles), ids.push_back(torch::tensor(prompts[i], torch::kInt64)), imgs.push_back(images[i]);
    const at::Tensor prompt = m.embed(torch::stack(ids), torch::stack(tiles), tiled[rows[0]].grid, torch::stack(imgs));
    const Generated gen_out = generate_tokens(*m.lm, prompt, o, {text::kEos}, gen);
    const at::Tensor c = gen_out.ids.contiguous();
    for (size_t r = 0; r < rows.size(); ++r) {
      std::vector<int64_t> t(c[int64_t(r)].data_ptr<int64_t>(), c[int64_t(r)].data_ptr<int64_t>() + gen_out.lengths[r]);
      out[rows[r]] = m.tok->decode(t);
      if (stats) stats->tokens += std::min<int64_t>(gen_out.lengths[r] + 1, o.max_new_tokens);
    }
    if (stats) ++stats->batches;
  }
  if (stats) stats->seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace rflow
