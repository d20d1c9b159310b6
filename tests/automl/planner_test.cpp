// The planner: every pair of shipped cards gives a plan that keeps the model card's rules and the
// budget (time and memory, from a probe whose costs the test sets), a batch halved until it fits,
// clear refusals (budget too small, a model for other data), the real probe measures, and the llm
// planner takes only the settings that fit the card from an OpenAI-compatible endpoint.
#include <atomic>
#include <cmath>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "rflow/automl/make_plan.h"
#include "rflow/automl/search_options.h"
#include "rflow/automl/step_probe.h"
#include "rflow/core/error.h"
#include "rflow/pipeline/run_config.h"
#include "tests/test_util.h"

using namespace rflow::automl;
namespace fs = std::filesystem;

namespace {

std::string card(const std::string& kind, const std::string& name) { return std::string(RFLOW_SOURCE_DIR) + "/cards/" + kind + "/" + name + ".toml"; }

int64_t batch_of(const std::vector<std::string>& settings) {
  int64_t b = 256;
  for (const auto& s : settings)
    if (s.rfind("train.batch_size=", 0) == 0) b = std::stoll(s.substr(17));
  return b;
}

// A machine where a step costs 20 µs per example, an evaluation 0.5 s, and memory grows 2 MB per example.
ProbeResult model_probe(const std::vector<std::string>& settings, int64_t, const ObjectiveOptions& o) {
  const double b = double(batch_of(settings));
  return {2e-5 * b, o.metric.empty() ? 0.0 : 0.5, 0.3 + 0.002 * b, 0.002 * b};
}

nlohmann::json resolved(const std::string& run_toml) {
  rflow::RunConfig cfg = rflow::load_run_config(run_toml, {});
  return nlohmann::json::parse(rflow::to_json(cfg));
}

}  // namespace

TEST(Planner, EveryPairOfShippedCardsPlansWithinTheBudgetAndKeepsTheRules) {
  rflow::test::TempDir dir;
  int plans = 0;
  for (const auto& d : fs::directory_iterator(std::string(RFLOW_SOURCE_DIR) + "/cards/data"))
    for (const auto& m : fs::directory_iterator(std::string(RFLOW_SOURCE_DIR) + "/cards/models")) {
      const DataCard data = DataCard::load(d.path().string());
      const ModelCard model = ModelCard::load(m.path().string());
      if (std::count(model.modalities.begin(), model.modalities.end(), data.modality) == 0) continue;
      SCOPED_TRACE(data.name + " × " + model.name);
      PlanOptions o;
      o.out = dir.file(data.name + "_" + model.name);
      o.cores = 2;
      const PlanOutcome p = make_plan(d.path().string(), m.path().string(), o, model_probe);
      ++plans;
      EXPECT_LE(p.plan.estimated_minutes, data.budget.minutes + 1e-9);
      EXPECT_LE(p.plan.probe.peak_memory_gb, data.budget.memory_gb);
      EXPECT_EQ(p.plan.threads * p.plan.workers, 2);
      const nlohmann::json cfg = resolved(p.run_config);
      for (const auto& c : model.constraints) {
        std::string why;
        EXPECT_TRUE(c.holds(cfg, &why)) << why;
      }
      EXPECT_EQ(cfg["model"]["arch"], model.name);
      if (data.modality == "policy") {
        EXPECT_TRUE(p.search_file.empty());
        continue;
      }
      const SearchOptions s = SearchOptions::load(p.search_file, {});
      EXPECT_EQ(s.asha.max_steps, cfg["train"]["steps"].get<int64_t>());
      EXPECT_EQ(s.asha.max_steps, 27 * s.asha.min_steps);
      const double step_s = 2e-5 * double(cfg["train"]["batch_size"].get<int64_t>());
      EXPECT_LE(s.asha.max_steps * step_s + 4 * 0.5, 60 * data.budget.minutes / 5);  // a full trial (4 evaluations): a fifth at most
      EXPECT_LE(s.minutes, data.budget.minutes);
      EXPECT_EQ(s.objective.metric, data.metric);
      EXPECT_EQ(s.constraints.size(), model.constraints.size());
      EXPECT_EQ(s.warm_start.back(), p.run_config);  // the plan's default is tried
      for (const auto& t : model.tunable.params)
        EXPECT_TRUE(std::any_of(s.space.params.begin(), s.space.params.end(), [&](const ParamSpec& q) { return q.key == t.key; })) << t.key;
    }
  EXPECT_GE(plans, 12);
}

TEST(Planner, TheBatchIsHalvedUntilTheMeasuredPeakFitsTheMemory) {
  rflow::test::TempDir dir;
  PlanOptions o;
  o.out = dir.file("p");
  o.memory_gb = 1.0;  // 64 → 0.428 GB fits; 2 · 64 would not: 0.428 + 0.128 fits, so 128 is offered
  o.cores = 2;
  PlanOutcome p = make_plan(card("data", "fashion_mnist"), card("models", "unet"), o, model_probe);
  EXPECT_EQ(resolved(p.run_config)["train"]["batch_size"], 64);
  o.memory_gb = 0.5;  // 64 → 0.428 fits, 128 (0.556) does not: not offered
  p = make_plan(card("data", "fashion_mnist"), card("models", "unet"), o, model_probe);
  auto batches = SearchOptions::load(p.search_file, {}).space.params[1].choices;
  EXPECT_EQ(batches, (std::vector<std::string>{"32", "64"}));
  o.memory_gb = 0.4;  // 64 → 0.428 over: halved to 32 (0.364)
  p = make_plan(card("data", "fashion_mnist"), card("models", "unet"), o, model_probe);
  EXPECT_EQ(resolved(p.run_config)["train"]["batch_size"], 32);
  o.memory_gb = 0.2;  // nothing fits
  EXPECT_THROW(make_plan(card("data", "fashion_mnist"), card("models", "unet"), o, model_probe), rflow::Error);
}

TEST(Planner, ItRefusesABudgetTooSmallAndAModelForOtherData) {
  rflow::test::TempDir dir;
  PlanOptions o;
  o.out = dir.file("p");
  o.minutes = 0.01;
  try {
    make_plan(card("data", "fashion_mnist"), card("models", "unet"), o, model_probe);
    FAIL() << "a budget of 0.6 s was accepted";
  } catch (const rflow::Error& e) {
    EXPECT_NE(std::string(e.what()).find("budget.minutes"), std::string::npos) << e.what();
  }
  o.minutes = 0;
  try {
    make_plan(card("data", "fashion_mnist"), card("models", "mlp"), o, model_probe);
    FAIL() << "an MLP was planned for images";
  } catch (const rflow::Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not model images"), std::string::npos) << e.what();
  }
}

TEST(Planner, ThePromptIsTheCardsAndTheRequestInOneParagraph) {
  const DataCard d = DataCard::load(card("data", "checkerboard"));
  const ModelCard m = ModelCard::load(card("models", "dit"));
  Budget b;
  b.minutes = 7;
  const std::string prompt = compose_prompt(d, m, b);
  for (const std::string part : {"data card: name checkerboard", "model card: name dit", "minimise w2", "7 minutes", "model.dit.hidden divisible by model.dit.heads",
                                 "predicted training log", "model.dit.depth in [2, 8]"})
    EXPECT_NE(prompt.find(part), std::string::npos) << part << "\n" << prompt;
  EXPECT_EQ(prompt.find('\n'), std::string::npos);
}

TEST(Planner, TheProbeMeasuresSecondsPerStepAndMemory) {
  const ProbeResult r = probe_training({"data.target.name=checkerboard", "model.mlp.hidden=64", "threads=1", "train.batch_size=128"}, 200, ObjectiveOptions{});
  EXPECT_GT(r.seconds_per_step, 1e-5);
  EXPECT_LT(r.seconds_per_step, 0.1);
  EXPECT_GT(r.peak_memory_gb, 0.01);
  EXPECT_GE(r.peak_memory_gb, r.growth_gb);
  EXPECT_GT(r.eval_seconds, 0.0);  // W2 of 2 000 points at 4 Euler steps, timed
}

TEST(Planner, TheLlmPlannerTakesOnlyTheSettingsThatFitTheCard) {
  httplib::Server server;
  std::string asked;
  server.Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    asked = req.body;
    const nlohmann::json answer{{"settings", {{"train.lr", 0.002}, {"model.mlp.depth", 9}, {"model.mlp.hidden", "128"}, {"optimizer", "sgd"}}},
                                {"predicted_log", nlohmann::json::array()},
                                {"notes", "wider is better"}};
    nlohmann::json message{{"role", "assistant"}, {"content", "Here is my plan:\n```json\n" + answer.dump() + "\n```"}};
    nlohmann::json reply{{"choices", nlohmann::json::array()}};
    reply["choices"].push_back({{"message", message}});
    res.set_content(reply.dump(), "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread t([&] { server.listen_after_bind(); });
  rflow::test::TempDir dir;
  PlanOptions o;
  o.out = dir.file("p");
  o.planner = "llm";
  o.llm_endpoint = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  const PlanOutcome p = make_plan(card("data", "moons"), card("models", "mlp"), o, model_probe);
  server.stop();
  t.join();
  const nlohmann::json cfg = resolved(p.run_config);
  EXPECT_DOUBLE_EQ(cfg["train"]["lr"].get<double>(), 0.002);
  EXPECT_EQ(cfg["model"]["mlp"]["hidden"], 128);
  EXPECT_EQ(cfg["model"]["mlp"]["depth"], 3);  // 9 lies outside [2, 5]: the card's default stays
  std::string notes;
  for (const auto& n : p.plan.notes) notes += n + "\n";
  EXPECT_NE(notes.find("ignored model.mlp.depth"), std::string::npos) << notes;
  EXPECT_NE(notes.find("ignored optimizer"), std::string::npos) << notes;
  const nlohmann::json sent = nlohmann::json::parse(asked);
  EXPECT_NE(sent["messages"][1]["content"].get<std::string>().find("data card: name moons"), std::string::npos);
  o.llm_endpoint = "http://127.0.0.1:" + std::to_string(port) + "/v1";  // the server is gone
  EXPECT_THROW(make_plan(card("data", "moons"), card("models", "mlp"), o, model_probe), rflow::Error);
}
