#include "rflow/pipeline/stages.h"

namespace rflow {

Registry<StageEntry>& stages() {
  static Registry<StageEntry> reg = [] {
    Registry<StageEntry> r("stage");
    r.add("train", "train the 1-RF (resumes from the newest checkpoint)", {stage_train, "", true, [](const StageContext& c) { return train_inputs(c.cfg); }});
    r.add("reflow", "teacher pairs, then reflow.rounds k-RF fine-tunes", {stage_reflow, "", true});
    r.add("distill", "one student per teacher in distill.from", {stage_distill, "", true});
    r.add("sample", "sample.n samples of the 1-RF (samples/)", {stage_sample, "sample", false});
    r.add("eval", "every model × solver × NFE, straightness, likelihood (eval/)", {stage_eval, "eval", true});
    r.add("report", "report.html with tables, curves and pictures", {stage_report, "", true});
    return r;
  }();
  return reg;
}

}  // namespace rflow
