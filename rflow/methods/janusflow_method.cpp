#include "rflow/methods/janusflow_method.h"

#include <random>

#include <torch/torch.h>

#include "rflow/data/image_questions.h"
#include "rflow/data/vqa_task.h"
#include "rflow/methods/cond_dropout.h"
#include "rflow/nn/janusflow.h"

namespace rflow {

void JanusFlowTrainOptions::validate(const std::string& where) const {
  RF_CHECK(und_ratio >= 0 && und_ratio <= 16, "und_ratio must be in 0 … 16", where + ".und_ratio", "");
  composite_layouts_named(und_layouts, where + ".und_layouts");
  RF_CHECK(!questions.empty(), "no question kinds", where + ".questions", "e.g. [\"describe\", \"where\", \"count\"]");
  for (const auto& q : questions) question_kinds().get(q, where + ".questions");
  tiling.validate(where + ".tiling");
  RF_CHECK(repa_weight >= 0, "repa_weight must be >= 0", where + ".repa_weight", "");
  // repa_target names an entry the image code registers at start-up: checked when the method is made.
  for (const auto& f : freeze) {
    const auto& parts = JanusFlowImpl::part_names();
    RF_CHECK(std::find(parts.begin(), parts.end(), f) != parts.end(), "no part '" + f + "' to freeze", where + ".freeze",
             "parts: lm, vision, gen_encoder, gen_decoder, repa_head");
  }
}

Registry<FeatureGridFactory>& repa_targets() {
  static Registry<FeatureGridFactory> reg("REPA target");
  return reg;
}

namespace {

class JanusFlowMethod : public Method {
 public:
  JanusFlowMethod(const MethodConfig& cfg)
      : o_(cfg.get<JanusFlowTrainOptions>("janusflow")), time_(cfg.time), label_dropout_(cfg.label_dropout) {
    o_.validate("method.janusflow");
    if (o_.repa_weight > 0) repa_targets().get(o_.repa_target, "method.janusflow.repa_target");
    tok_ = question_tokenizer(o_.questions);
  }
  std::string name() const override { return "janusflow"; }

  at::Tensor loss(const Batch& batch, TrainContext& ctx) override {
    auto* m = dynamic_cast<JanusFlowImpl*>(&ctx.model);
    RF_CHECK(m != nullptr, "method janusflow trains the janusflow backbone", "method.name", "set model.arch = \"janusflow\"");
    if (!ready_) prepare(*m, batch);
    // Generation: rectified flow with prompt dropout, REPA on the clean images.
    const at::Tensor t = sample_time(time_, batch.x1.size(0), batch.x1.device());
    const Cond cond = drop_conditioning(batch.cond, label_dropout_);
    const PathSample ps = ctx.path.sample(batch.x0, batch.x1, t);
    const bool repa = o_.repa_weight > 0 && m->options().repa_layer > 0;
    const JanusFlowImpl::Generation g = m->generate(ps.xt, t, cond, repa);
    at::Tensor total = (g.velocity - ps.target).pow(2).mean();
    ctx.log("rf_loss", total);
    if (repa) {
      const at::Tensor target = repa_(batch.x1);  // frozen, no gradient
      RF_CHECK(target.sizes() == g.repa.sizes(), "REPA target features " + c10::str(target.sizes()) + " but the head gives " +
                   c10::str(g.repa.sizes()), "model.janusflow.repa_dim", "set repa_dim to the target network's channels");
      const at::Tensor l = -torch::cosine_similarity(g.repa, target, -1).mean();
      ctx.log("repa_loss", l);
      total = total + o_.repa_weight * l;
    }
    const int64_t n_und = int64_t(std::llround(o_.und_ratio * double(batch.x1.size(0))));
    if (n_und > 0) {
      const AnswerLoss u = understanding(*m, n_und);
      ctx.log("und_loss", u.loss);
      ctx.log("und_accuracy", u.accuracy);
      total = total + u.loss;
    }
    return total;
  }

 private:
  void prepare(JanusFlowImpl& m, const Batch& batch) {
    RF_CHECK(tok_->vocab_size() <= m.options().words, "the questions need " + std::to_string(tok_->vocab_size()) + " words",
             "model.janusflow.words", "raise it to at least that");
    for (const auto& f : o_.freeze)
      for (auto& p : m.part_parameters(f)) p.requires_grad_(false);
    const int64_t side = m.vision()->options().side();
    TilingOptions tiling = o_.tiling;
    tiling.tile = m.vision()->options().tile;
    task_ = std::make_unique<VqaTask>(o_.data_path, "train", o_.und_layouts, o_.questions, tiling, side);
    if (o_.repa_weight > 0 && m.options().repa_layer > 0) {
      std::vector<int64_t> shape(batch.x1.sizes().begin() + 1, batch.x1.sizes().end());
      repa_ = repa_targets().get(o_.repa_target, "method.janusflow.repa_target")(shape, m.options().gen_patch);
    }
    ready_ = true;
  }

  // A batch of questions about composites of one layout, drawn from the trainer's random stream.
  AnswerLoss understanding(JanusFlowImpl& m, int64_t n) {
    const uint64_t seed = uint64_t(torch::randint(0, int64_t(1) << 62, {1}, torch::kInt64).item<int64_t>());
    std::mt19937_64 rng(seed);
    const auto& layouts = task_->layouts();
    const CompositeLayout& layout = layouts[std::uniform_int_distribution<size_t>(0, layouts.size() - 1)(rng)];
    const auto ex = task_->draw(layout, n, rng);
    const int64_t tokens = m.options().shared_encoder ? m.shared_image_tokens(layout.shape()[1], layout.shape()[2]) : -1;
    const VqaBatch b = task_->batch(ex, *tok_, m.image_id(), m.answer_id(), true, tokens);
    return m.understanding_loss(b.ids, b.supervise, b.tiles, b.grid.rows, b.grid.cols, b.images);
  }

  JanusFlowTrainOptions o_;
  TimeSamplerConfig time_;
  double label_dropout_;
  std::unique_ptr<text::Tokenizer> tok_;
  std::unique_ptr<VqaTask> task_;
  FeatureGrid repa_;
  bool ready_ = false;
};

}  // namespace

MethodEntry janusflow_method_entry() {
  MethodEntry e{[] { return AnyOptions::of<JanusFlowTrainOptions>(); },
                [](const MethodConfig& c) { return std::make_unique<JanusFlowMethod>(c); }};
  e.label = "JanusFlow";
  e.backbone = "janusflow";
  return e;
}

}  // namespace rflow
