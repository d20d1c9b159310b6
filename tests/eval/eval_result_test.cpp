// Typed eval results round-trip through JSON, and files written before results were typed (scores
// beside the bookkeeping fields, a likelihood without `computed`) are read, not recomputed.
#include <cmath>

#include <gtest/gtest.h>

#include "rflow/core/error.h"
#include "rflow/eval/eval_result.h"
#include "tests/test_util.h"

using namespace rflow::eval;

TEST(EvalResult, RoundTripsAndKeepsNonFiniteScoresAsNaN) {
  SolverResult r;
  r.solver = "euler";
  r.tag = "euler_nfe4";
  r.nfe = 4;
  r.steps = 4;
  r.scores = {{"w2", 0.5}, {"mmd", std::nan("")}};
  r.settings = {{"n", 300}};
  nlohmann::json j = nlohmann::json::parse(nlohmann::json(r).dump());  // as written to a file
  EXPECT_TRUE(j["scores"]["mmd"].is_null());
  SolverResult back = j.get<SolverResult>();
  EXPECT_EQ(back.tag, "euler_nfe4");
  EXPECT_DOUBLE_EQ(back.score("w2"), 0.5);
  EXPECT_TRUE(std::isnan(back.score("mmd")));
  EXPECT_THROW(back.score("fid_proxy"), rflow::Error);
  ModelEval m;
  m.kind = "points";
  m.results = {r};
  m.floor = {{"w2", 0.47}};
  m.likelihood = {true, -2.1, 1.5, 140};
  ModelEval mb = nlohmann::json(m).get<ModelEval>();
  EXPECT_EQ(mb.find("euler", 4)->tag, "euler_nfe4");
  EXPECT_EQ(mb.find("heun"), nullptr);
  EXPECT_TRUE(mb.likelihood.computed);
  EXPECT_DOUBLE_EQ(mb.floor_score("w2"), 0.47);
}

TEST(EvalResult, ReadsFilesWrittenBeforeResultsWereTyped) {
  rflow::test::TempDir dir;
  const nlohmann::json settings{{"n", 300}, {"seed", 0}};
  const std::string old_result = R"({"solver": "euler", "tag": "euler_nfe1", "nfe": 1.0, "steps": 1, "w2": 3.87,
      "energy": 0.9, "checkpoint_step": 400, "samples_per_second": 1000.0, "settings": {"n": 300, "seed": 0}})";
  rflow::test::write_text(dir.file("r.json"), old_result);
  SolverResult r;
  ASSERT_TRUE(read_cached_result(dir.file("r.json"), settings, r));
  EXPECT_DOUBLE_EQ(r.score("w2"), 3.87);
  EXPECT_DOUBLE_EQ(r.score("energy"), 0.9);
  EXPECT_FALSE(r.has("nfe"));  // bookkeeping is not a score
  EXPECT_FALSE(read_cached_result(dir.file("r.json"), {{"n", 200}, {"seed", 0}}, r));  // other settings
  rflow::test::write_text(dir.file("torn.json"), old_result.substr(0, 40));
  EXPECT_FALSE(read_cached_result(dir.file("torn.json"), settings, r));
  rflow::test::write_text(dir.file("m.json"), R"({"kind": "points", "model": "1-RF", "n": 300, "floor": {"w2": 0.4},
      "results": [)" + old_result + R"(], "straightness": {"straightness": 3.0, "normalized": 0.4,
      "transport_cost": 7.8, "steps": 100, "paths": 300}, "likelihood": {"mean_log_p": -2.2, "bits_per_dim": 1.6,
      "nfe_mean": 141.0}})");
  ModelEval m = read_model_eval(dir.file("m.json"));
  EXPECT_DOUBLE_EQ(m.results.at(0).score("w2"), 3.87);
  EXPECT_TRUE(m.likelihood.computed);
  EXPECT_DOUBLE_EQ(m.likelihood.mean_log_p, -2.2);
  EXPECT_DOUBLE_EQ(m.straightness.transport_cost, 7.8);
}
