// Warm starts and rules in a search: a run config's settings become the first point; the earlier
// plan nearest a new data card (same model card) is found and its best trial is the new search's
// first; points that break a [[constraint]] are never trained.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "rflow/automl/make_plan.h"
#include "rflow/automl/search.h"
#include "rflow/automl/trial_rules.h"
#include "rflow/automl/warm_start.h"
#include "rflow/io/atomic_file.h"
#include "tests/test_util.h"

using namespace rflow::automl;
namespace fs = std::filesystem;

namespace {

std::string tiny_search(const std::string& path, const std::string& dir, const std::string& extra) {
  std::ofstream(path) << "config = \"" << RFLOW_SOURCE_DIR << "/configs/checkerboard.toml\"\n"
                      << "dir = \"" << dir << "\"\nsampler = \"random\"\ntrials = 4\n" << extra
                      << "\n[asha]\nmin_steps = 10\nmax_steps = 90\neta = 3\n[objective]\nn = 200\n"
                      << "[[space]]\nkey = \"train.lr\"\nlow = 1e-4\nhigh = 1e-2\nlog = true\n"
                      << "[[space]]\nkey = \"model.mlp.hidden\"\nchoices = [\"32\", \"48\", \"64\"]\n"
                      << "[[space]]\nkey = \"model.mlp.depth\"\nkind = \"int\"\nlow = 2\nhigh = 3\n";
  return path;
}

ProbeResult fast_probe(const std::vector<std::string>&, int64_t, const ObjectiveOptions&) { return {1e-3, 0.1, 0.3, 0.05}; }

}  // namespace

TEST(WarmStart, ARunConfigsSettingsAreTheFirstPoint) {
  rflow::test::TempDir dir;
  const std::string base = std::string(RFLOW_SOURCE_DIR) + "/configs/checkerboard.toml";  // lr 1e-3, hidden 256, depth 3
  const SearchOptions s = SearchOptions::load(tiny_search(dir.file("s.toml"), dir.file("auto"), "warm_start = [\"" + base + "\"]"), {});
  const auto warm = warm_points(s);
  ASSERT_EQ(warm.size(), 1u);
  EXPECT_DOUBLE_EQ(warm[0][0], 1e-3);
  EXPECT_EQ(warm[0][1], 0);  // 256 is no choice here: the first
  EXPECT_EQ(warm[0][2], 3);
}

TEST(WarmStart, PointsThatBreakARuleAreNeverTrained) {
  rflow::test::TempDir dir;
  // hidden % depth: 32 % 3, 64 % 3 and 48 % 2... only (32|48|64, 2) and (48, 3) keep it.
  const SearchOptions s = SearchOptions::load(
      tiny_search(dir.file("s.toml"), dir.file("auto"), "[[constraint]]\nkey = \"model.mlp.hidden\"\ndivisible_by = [\"model.mlp.depth\"]"), {});
  EXPECT_FALSE(keeps_rules(s, {1e-3, 0, 3}));
  EXPECT_TRUE(keeps_rules(s, {1e-3, 1, 3}));
  work_on_study(s, 0);
  Study study(study_path(s), s.name, s.meta());
  const auto trials = study.trials();
  ASSERT_EQ(trials.size(), 4u);
  for (const auto& t : trials) {
    std::string why;
    EXPECT_TRUE(keeps_rules(s, t.x, &why)) << why;
  }
}

TEST(WarmStart, TheNearestEarlierPlansBestTrialIsTheNewSearchsFirst) {
  rflow::test::TempDir dir;
  // Two earlier plans with the MLP card: one on 2-D points, one on "images"; each with a study.
  int which = 0;
  for (const std::string modality : {"points", "images"}) {
    const fs::path plan = dir.path() / ("earlier_" + modality);
    fs::create_directories(plan);
    const SearchOptions s = SearchOptions::load(tiny_search((plan / "search.toml").string(), (plan / "study").string(), which++ ? "seed = 7" : ""), {});
    work_on_study(s, 0);
    const nlohmann::json j{{"data", {{"name", modality}, {"modality", modality}, {"description", modality == "points" ? "points on two half circles" : "grey pictures of clothing"},
                                     {"shape", modality == "points" ? std::vector<int64_t>{2} : std::vector<int64_t>{1, 28, 28}}, {"size", 0}, {"classes", 0}}},
                           {"model", "mlp"}, {"search", "search.toml"}};
    rflow::io::write_file_atomic((plan / "plan.json").string(), j.dump());
  }
  const DataCard moons = DataCard::load(std::string(RFLOW_SOURCE_DIR) + "/cards/data/moons.toml");
  const auto near = nearest_plans(moons, "mlp", dir.path().string(), 2);
  ASSERT_EQ(near.size(), 2u);
  EXPECT_NE(near[0].search_file.find("earlier_points"), std::string::npos);
  EXPECT_LT(near[0].distance, near[1].distance);
  EXPECT_TRUE(nearest_plans(moons, "unet", dir.path().string(), 2).empty());  // another model card's keys

  PlanOptions o;
  o.out = dir.file("moons_mlp");
  o.neighbours = 1;
  const PlanOutcome p = make_plan(std::string(RFLOW_SOURCE_DIR) + "/cards/data/moons.toml", std::string(RFLOW_SOURCE_DIR) + "/cards/models/mlp.toml", o, fast_probe);
  const SearchOptions s = SearchOptions::load(p.search_file, {});
  ASSERT_EQ(s.warm_start.size(), 2u);
  EXPECT_EQ(s.warm_start[0], near[0].search_file);
  const SearchOptions earlier = SearchOptions::load(near[0].search_file, {});
  Study es(study_path(earlier), earlier.name, earlier.meta());
  const auto et = es.trials();
  const TrialRecord* best = best_trial(et);
  ASSERT_NE(best, nullptr);
  const Point first = warm_points(s).at(0);
  for (size_t i = 0; i < s.space.params.size(); ++i)
    for (size_t j = 0; j < earlier.space.params.size(); ++j)
      if (s.space.params[i].key == earlier.space.params[j].key && s.space.params[i].key == "train.lr")
        EXPECT_NEAR(first[i], std::clamp(best->x[j], s.space.params[i].low, s.space.params[i].high), 1e-9);
  EXPECT_TRUE(std::isfinite(p.plan.predicted_log.back().metric));  // the neighbour's curve as a prior
  EXPECT_DOUBLE_EQ(card_distance(moons, moons, {moons.description}), 0.0);
}
