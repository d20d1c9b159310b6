// A search end to end, in this process: every shipped search file loads; trials on the
// checkerboard are reported at ASHA's rungs, pruned ones stop at a rung, the study holds exactly
// the trials asked for with no number twice; the best config is the base config with the best
// trial's settings; a study reopened with another space is refused.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "rflow/automl/best_config.h"
#include "rflow/automl/sampler.h"
#include "rflow/automl/search.h"
#include "rflow/automl/study_report.h"
#include "rflow/core/config.h"
#include "rflow/core/error.h"
#include "rflow/pipeline/run_config.h"
#include "tests/test_util.h"

using namespace rflow::automl;
namespace fs = std::filesystem;

namespace {

std::string small_search(const rflow::test::TempDir& dir, const std::string& sampler, int trials) {
  const std::string path = dir.file("search.toml");
  std::ofstream(path) << "config = \"" << RFLOW_SOURCE_DIR << "/configs/checkerboard.toml\"\n"
                      << "dir = \"" << dir.file("auto") << "\"\nsampler = \"" << sampler << "\"\ntrials = " << trials
                      << "\n[asha]\nmin_steps = 20\nmax_steps = 180\neta = 3\n[objective]\nn = 200\n"
                      << "[[space]]\nkey = \"train.lr\"\nlow = 1e-4\nhigh = 1e-2\nlog = true\n"
                      << "[[space]]\nkey = \"model.mlp.hidden\"\nchoices = [\"32\", \"64\"]\n";
  return path;
}

}  // namespace

TEST(Search, EveryShippedSearchFileLoads) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(std::string(RFLOW_SOURCE_DIR) + "/configs/search")) {
    SCOPED_TRACE(e.path().string());
    const SearchOptions s = SearchOptions::load(e.path().string(), {});
    EXPECT_FALSE(s.space.params.empty());
    ++n;
  }
  EXPECT_GE(n, 1);
}

TEST(Search, TrialsAreReportedAtTheRungsAndTheStudyHoldsWhatWasAsked) {
  rflow::test::TempDir dir;
  const SearchOptions s = SearchOptions::load(small_search(dir, "random", 5), {});
  EXPECT_EQ(work_on_study(s, 0), 5);
  EXPECT_EQ(work_on_study(s, 0), 0);  // done: a rerun adds nothing
  Study study(study_path(s), s.name, s.meta());
  const auto trials = study.trials();
  ASSERT_EQ(trials.size(), 5u);
  for (size_t i = 0; i < trials.size(); ++i) {
    const auto& t = trials[i];
    EXPECT_EQ(t.number, int64_t(i));
    ASSERT_TRUE(t.state == "complete" || t.state == "pruned") << t.state << " " << t.note;
    // Reports at 20, 60 (the rungs) and 180 (the end), up to where the trial stopped.
    const std::vector<int64_t> steps{20, 60, 180};
    ASSERT_FALSE(t.reports.empty());
    for (size_t k = 0; k < t.reports.size(); ++k) EXPECT_EQ(t.reports[k].step, steps[k]);
    EXPECT_EQ(t.steps, t.reports.back().step);
    EXPECT_EQ(t.value, t.reports.back().value);
    EXPECT_EQ(t.reports.back().decision.substr(0, 5), t.state == "complete" ? "compl" : "prune");
    EXPECT_EQ(t.state == "complete", t.steps == 180);
    EXPECT_TRUE(fs::exists(fs::path(s.study_dir()) / "trials" / ("trial_" + std::to_string(i)) / "checkpoints"));
  }
  EXPECT_EQ(trials[0].state, "complete");  // the first at each rung is the best so far
  const TrialRecord* best = best_trial(trials);
  ASSERT_NE(best, nullptr);
  // The best config: the base with the best settings, at the full length.
  rflow::test::TempDir out;
  std::ofstream(out.file("best.toml")) << best_config_toml(s, *best);
  rflow::RunConfig cfg = rflow::load_run_config(out.file("best.toml"), {});
  EXPECT_DOUBLE_EQ(cfg.train.lr, best->x[0]);  // the study records what the trial trained with
  for (const auto& f : rflow::config::fields_of(cfg))
    if (f.key == "model.mlp.hidden") EXPECT_EQ(rflow::config::value_string(f), best->x[1] == 0 ? "32" : "64");
  EXPECT_EQ(cfg.train.steps, 180);
  const nlohmann::json sum = summarize(s, trials);
  EXPECT_EQ(sum["leaderboard"][0]["trial"], best->number);
  // The page: four figures and a leaderboard row per trial.
  const std::string html = study_report_html(s, trials);
  size_t svgs = 0, rows = 0;
  for (size_t at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1)) ++svgs;
  for (size_t at = html.find("<tr>"); at != std::string::npos; at = html.find("<tr>", at + 1)) ++rows;
  EXPECT_EQ(svgs, 4u);
  EXPECT_GE(rows, trials.size() + 1);
  EXPECT_NE(html.find("trial " + std::to_string(best->number) + " (best)"), std::string::npos);
  // Another space for the same study is refused.
  EXPECT_THROW(Study(study_path(s), s.name, SearchOptions::load(small_search(dir, "tpe", 5), {}).meta()), rflow::Error);
}

TEST(Search, RandomSearchDrawsEveryChoiceAlike) {
  const SearchSpace space = SearchSpace::from_json(
      nlohmann::json::parse(R"([{"key": "a", "low": 0, "high": 1}, {"key": "b", "choices": ["w", "x", "y", "z"]}])"), "s");
  auto random = samplers().get("random")();
  std::map<double, int> counts;
  for (uint64_t seed = 0; seed < 4000; ++seed) ++counts[random->suggest(space, {}, seed)[1]];
  ASSERT_EQ(counts.size(), 4u);
  for (const auto& [c, n] : counts) EXPECT_NEAR(n, 1000, 100) << "choice " << c;
}
