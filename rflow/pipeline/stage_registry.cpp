#include "rflow/pipeline/stage_keys.h"
#include "rflow/pipeline/stages.h"

namespace rflow {

namespace {

using Keys = std::vector<std::string>;

Keys plus(Keys a, const Keys& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

StageEntry entry(std::function<void(StageContext&)> run, std::function<Keys(const RunConfig&)> reads,
                 bool makes_models, bool invalidates_later = true) {
  StageEntry e;
  e.run = std::move(run);
  e.reads = std::move(reads);
  e.makes_models = makes_models;
  e.invalidates_later = invalidates_later;
  return e;
}

// Which models exist and how each is evaluated (students at their own step count).
const Keys kModelList{"reflow.rounds", "distill.from", "method.distill.steps", "sample.use_ema"};

}  // namespace

Registry<StageEntry>& stages() {
  static Registry<StageEntry> reg = [] {
    Registry<StageEntry> r("stage");
    StageEntry train = entry(stage_train, model_keys, true);
    train.data_parallel = true;
    train.inputs = [](const StageContext& c) { return train_inputs(c.cfg); };
    r.add("train", "train the 1-RF (resumes from the newest checkpoint)", train);
    // Pair generation is split over the ranks (shard i on rank i mod N), training is data parallel.
    StageEntry reflow = entry(stage_reflow, [](const RunConfig& c) { return plus(model_keys(c), {"reflow"}); }, true);
    reflow.data_parallel = true;
    r.add("reflow", "teacher pairs, then reflow.rounds k-RF fine-tunes", reflow);
    StageEntry distill =
        entry(stage_distill, [](const RunConfig& c) { return plus(model_keys(c), {"reflow", "distill", "method.distill"}); }, true);
    distill.data_parallel = true;
    r.add("distill", "one student per teacher in distill.from", distill);
    r.add("sample", "sample.n samples of the 1-RF (samples/)",
          entry(stage_sample, [](const RunConfig& c) { return plus(model_keys(c), {"sample"}); }, false, false));
    // Each solver job's samples and the likelihood's points are split over the ranks; rank 0 scores.
    StageEntry eval = entry(stage_eval, [](const RunConfig& c) { return plus(model_keys(c), plus({"eval"}, kModelList)); }, false);
    eval.data_parallel = true;
    r.add("eval", "every model × solver × NFE, straightness, likelihood (eval/)", eval);
    r.add("report", "report.html with tables, curves and pictures",
          entry(stage_report, [](const RunConfig& c) { return plus(model_keys(c), plus({"eval", "sample"}, kModelList)); }, false));
    return r;
  }();
  return reg;
}

}  // namespace rflow
