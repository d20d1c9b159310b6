// End-to-end: the CLI as a user runs it, on a small version of the demo config.
#include <algorithm>
#include <array>
#include <cstdio>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <torch/torch.h>

#include "rflow/eval/eval_result.h"
#include "rflow/io/idx.h"
#include "rflow/io/npy.h"
#include "rflow/io/remove_tree.h"
#include "rflow/io/safetensors.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {

using Result = rflow::test::ShellResult;
Result sh(const std::string& cmd) { return rflow::test::shell(cmd); }

std::string cli() { return RFLOW_CLI; }
std::string demo() { return std::string(RFLOW_SOURCE_DIR) + "/configs/demo_2d.toml"; }
// reflow.pairs = 4000 (the config's 20 000 is for the real run): plenty for a 400-step 2-RF.
std::string small(const std::string& out_dir) {
  return " --set out_dir=" + out_dir + " --set reflow.pairs=4000" +
         " --set train.steps=400 --set train.ckpt_every=200 --set eval.n=300 --set eval.nfe=[1,8]"
         " --set 'eval.solvers=[\"euler\",\"heun\"]' --set sample.n=500 --set eval.trajectories=50 --set threads=1";
}

}  // namespace

TEST(Cli, RunPipelineWritesReportAndSkipsDoneStages) {
  rflow::test::TempDir dir;
  auto r = sh(cli() + " run " + demo() + small(dir.path().string()));
  ASSERT_EQ(r.code, 0) << r.out;
  fs::path run = dir.path() / "demo_2d";
  for (const char* f : {"config.json", "metrics.jsonl", "report.html", "samples/samples.npy", "eval/metrics.json",
                        "stages/train.done", "stages/report.done", "checkpoints/LATEST"})
    EXPECT_TRUE(fs::exists(run / f)) << f;
  std::string html = rflow::test::read_text((run / "report.html").string());
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("W2"), std::string::npos);
  // Where it ran and what each stage needed travel with the run.
  auto sys = nlohmann::json::parse(rflow::test::read_text((run / "system.json").string()));
  EXPECT_FALSE(sys.value("cpu", "").empty());
  EXPECT_TRUE(sys.contains("blas_core"));
  auto marker = nlohmann::json::parse(rflow::test::read_text((run / "stages/train.done").string()));
  EXPECT_GT(marker.value("peak_rss_mb", 0.0), 10.0);
  // The stage's time covers at least the training the metrics lines account for (window / speed).
  double trained_seconds = 0;
  int64_t last_step = 0;
  {
    std::ifstream in(run / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      const auto j = nlohmann::json::parse(line);
      const int64_t step = j.at("step").get<int64_t>();
      if (j.value("steps_per_s", 0.0) > 0) trained_seconds += double(step - last_step) / j.at("steps_per_s").get<double>();
      last_step = step;
    }
  }
  EXPECT_GT(trained_seconds, 0.0);
  EXPECT_GE(marker.value("seconds", 0.0), 0.9 * trained_seconds);
  auto met = rflow::eval::read_model_eval((run / "eval/metrics.json").string());
  ASSERT_EQ(met.results.size(), 3u);  // euler 1, euler 8, heun 8 (heun at NFE 1 is skipped)
  double w2_1 = met.results[0].score("w2"), w2_8 = met.results[1].score("w2");
  EXPECT_LT(w2_8, w2_1) << "more steps must be closer to the target";
  // A 1-RF on the independent coupling bends: its paths are far from straight (0.33 with this seed
  // and one thread), yet it transports more cheaply than the coupling it was trained on.
  EXPECT_GT(met.straightness.normalized, 0.1);
  EXPECT_LT(met.straightness.normalized, 1.0);
  EXPECT_LT(met.straightness.transport_cost, 0.7 * met.independent_transport_cost);

  auto again = sh(cli() + " run " + demo() + small(dir.path().string()));
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_NE(again.out.find("stage train: done already"), std::string::npos) << again.out;

  auto changed = sh(cli() + " run " + demo() + small(dir.path().string()) + " --set train.lr=0.1");
  EXPECT_EQ(changed.code, 1);
  EXPECT_NE(changed.out.find("train.lr"), std::string::npos) << changed.out;
  // Evaluation settings may change: the model stays, eval and report run again, and no result made
  // with the old n survives (each records the settings it was made with).
  // A run directory stands for its own config.
  auto reeval = sh(cli() + " run " + run.string() + " --set eval.n=200 --set eval.nfe=[1]");
  ASSERT_EQ(reeval.code, 0) << reeval.out;
  EXPECT_NE(reeval.out.find("stage train: done already"), std::string::npos) << reeval.out;
  EXPECT_NE(reeval.out.find("stage eval: running"), std::string::npos) << reeval.out;
  auto met200 = rflow::eval::read_model_eval((run / "eval/metrics.json").string());
  ASSERT_EQ(met200.results.size(), 1u);  // euler 1 (heun at NFE 1 is skipped)
  EXPECT_EQ(met200.results[0].settings["n"], 200);
  // Recomputed on 200 points: another estimate of the same distance, not the stored one.
  EXPECT_NE(met200.results[0].score("w2"), w2_1);
  EXPECT_NEAR(met200.results[0].score("w2"), w2_1, 0.25 * w2_1);
  // Back to the first settings: recomputed from the same draws, the same numbers.
  auto back = sh(cli() + " run " + demo() + small(dir.path().string()));
  ASSERT_EQ(back.code, 0) << back.out;
  auto met_back = rflow::eval::read_model_eval((run / "eval/metrics.json").string());
  EXPECT_DOUBLE_EQ(met_back.results[0].score("w2"), w2_1);
  // A copied run directory is the same run where it now lies: re-evaluated there, not retrained.
  const fs::path moved = dir.path() / "moved" / "demo_2d";
  fs::create_directories(moved.parent_path());
  fs::copy(run, moved, fs::copy_options::recursive);
  auto m = sh(cli() + " run " + moved.string() + "/ --set eval.n=200 --set 'eval.nfe=[1]'");
  ASSERT_EQ(m.code, 0) << m.out;
  EXPECT_NE(m.out.find("stage train: done already"), std::string::npos) << m.out;
  EXPECT_EQ(rflow::eval::read_model_eval((moved / "eval/metrics.json").string()).results[0].score("w2"),
            met200.results[0].score("w2"));

  // sample / eval / info on the trained run.
  std::string npy = (dir.path() / "s.npy").string();
  auto s = sh(cli() + " sample " + run.string() + " --solver heun --steps 4 -n 64 -o " + npy + " --plot " +
              (dir.path() / "s.svg").string());
  ASSERT_EQ(s.code, 0) << s.out;
  auto j = nlohmann::json::parse(s.out.substr(s.out.rfind("{\"")));
  EXPECT_EQ(j["nfe_max"], 8);
  EXPECT_EQ(j["n"], 64);
  EXPECT_TRUE(fs::exists(dir.path() / "s.svg"));
  // W2 between a sample set and itself moved by (0.6, −0.8) is exactly 0.6² + 0.8² = 1 under the
  // square root: the optimal matching of a translate is the identity.
  const std::string moved_npy = (dir.path() / "moved.npy").string();
  rflow::io::write_npy(moved_npy, rflow::io::read_npy(npy) + torch::tensor({0.6f, -0.8f}));
  auto e = sh(cli() + " eval --samples " + moved_npy + " --reference " + npy);
  ASSERT_EQ(e.code, 0) << e.out;
  EXPECT_NEAR(nlohmann::json::parse(e.out.substr(e.out.rfind("{\"")))["w2"].get<double>(), 1.0, 1e-5);
  // A checkpoint's evaluation says what it ran and the floor it is to be read against.
  auto ce = sh(cli() + " eval --checkpoint " + run.string() + " --solver heun --steps 4 -n 300");
  ASSERT_EQ(ce.code, 0) << ce.out;
  auto cj = nlohmann::json::parse(ce.out.substr(ce.out.rfind("\n{\"") + 1));  // the last line: nested objects inside
  EXPECT_EQ(cj["settings"]["solver"], "heun");
  EXPECT_EQ(cj["settings"]["nfe"], 8);
  EXPECT_EQ(cj["settings"]["reference"], "fresh target draws");
  EXPECT_GT(cj["w2"].get<double>(), 0.5 * cj["floor"]["w2"].get<double>());
  // The floor is W2 between two finite target draws: it shrinks as the draws grow.
  auto ce4 = sh(cli() + " eval --checkpoint " + run.string() + " --solver heun --steps 4 -n 1200");
  ASSERT_EQ(ce4.code, 0) << ce4.out;
  auto cj4 = nlohmann::json::parse(ce4.out.substr(ce4.out.rfind("\n{\"") + 1));
  EXPECT_LT(cj4["floor"]["w2"].get<double>(), 0.8 * cj["floor"]["w2"].get<double>());
  // Adaptive per-sample sampling with a budget, likelihood during the solve, re-timed path.
  auto d = sh(cli() + " sample " + run.string() + " --solver dopri5 --rtol 1e-4 --atol 1e-4 -n 64 --likelihood -o " + npy);
  ASSERT_EQ(d.code, 0) << d.out;
  auto dj = nlohmann::json::parse(d.out.substr(d.out.rfind("{\"")));
  EXPECT_EQ(dj["status"], "ok");
  // Per-sample step control: samples took different numbers of steps (nfe_max is the most).
  EXPECT_GT(dj["nfe_max"].get<int64_t>(), dj["nfe_min"].get<int64_t>());
  EXPECT_GE(dj["nfe_min"].get<int64_t>(), 13) << "at least two dopri5 steps at rtol 1e-4";
  // The log-densities of the samples, from the forward solve, agree with the backward solve's
  // density of the same points (`rflow eval --likelihood`): one ODE, integrated both ways.
  const at::Tensor logp = rflow::io::read_npy((dir.path() / "s.logp.npy").string());
  ASSERT_EQ(logp.sizes(), (std::vector<int64_t>{64}));
  EXPECT_TRUE(torch::isfinite(logp).all().item<bool>());
  auto backward = sh(cli() + " eval --likelihood --samples " + npy + " --checkpoint " + run.string() +
                 " --solver dopri5 --divergence exact");
  ASSERT_EQ(backward.code, 0) << backward.out;
  EXPECT_NEAR(nlohmann::json::parse(backward.out.substr(backward.out.rfind("{\"")))["mean_log_p"].get<double>(),
              logp.to(torch::kFloat64).mean().item<double>(), 0.05);
  // The same noise solved by RK4 with 100 steps: the adaptive solution agrees to its tolerance's scale.
  const std::string fine = (dir.path() / "fine.npy").string();
  ASSERT_EQ(sh(cli() + " sample " + run.string() + " --solver rk4 --steps 100 -n 64 -o " + fine).code, 0);
  const double adaptive_err = (rflow::io::read_npy(npy) - rflow::io::read_npy(fine)).abs().max().item<double>();
  EXPECT_LT(adaptive_err, 0.1);
  auto budget = sh(cli() + " sample " + run.string() + " --solver dopri5 --max-nfe 14 -n 16 -o " + npy);
  ASSERT_EQ(budget.code, 0) << budget.out;
  EXPECT_NE(budget.out.find("budget_exhausted"), std::string::npos) << budget.out;
  // Re-timed onto the cosine path, the field's ODE has the same end points: RK4 on either time axis
  // lands on the same samples (3e-4 apart here; a wrong velocity scale moves them by O(1)).
  auto retimed = sh(cli() + " sample " + run.string() + " --solver rk4 --steps 50 --path cosine -n 16 -o " + npy);
  ASSERT_EQ(retimed.code, 0) << retimed.out;
  const std::string linear50 = (dir.path() / "linear50.npy").string();
  ASSERT_EQ(sh(cli() + " sample " + run.string() + " --solver rk4 --steps 50 -n 16 -o " + linear50).code, 0);
  EXPECT_LT((rflow::io::read_npy(npy) - rflow::io::read_npy(linear50)).abs().max().item<double>(), 1e-2);
  // Every solver setting is a flag (generated from SolveOptions): a shifted grid gives other points
  // than the uniform one from the same noise, tsit5 and bosh3 run per sample, bad values are refused.
  const std::string uni = (dir.path() / "uni.npy").string(), shifted = (dir.path() / "shift.npy").string();
  ASSERT_EQ(sh(cli() + " sample " + run.string() + " --solver euler --steps 4 -n 32 -o " + uni).code, 0);
  auto sh3 = sh(cli() + " sample " + run.string() + " --solver euler --steps 4 --schedule shift --shift 3 -n 32 -o " + shifted);
  ASSERT_EQ(sh3.code, 0) << sh3.out;
  EXPECT_FALSE(rflow::test::read_text(uni) == rflow::test::read_text(shifted));
  for (const char* pair : {"tsit5", "bosh3"}) {
    auto a = sh(cli() + " sample " + run.string() + " --solver " + pair + " --rtol 1e-3 --atol 1e-3 --max-step 0.5 -n 32 -o " + npy);
    ASSERT_EQ(a.code, 0) << a.out;
    auto aj = nlohmann::json::parse(a.out.substr(a.out.rfind("{\"")));
    EXPECT_EQ(aj["solver"], pair);
    EXPECT_EQ(aj["status"], "ok");
    EXPECT_GE(aj["nfe_min"].get<int64_t>(), std::string(pair) == "bosh3" ? 7 : 13) << "at least two steps (max_step 0.5)";
  }
  EXPECT_EQ(sh(cli() + " sample " + run.string() + " --solver euler --schedule sideways -n 4 -o " + npy).code, 1);
  auto lik = sh(cli() + " eval --likelihood --samples " + (run / "eval/reference.npy").string() + " --checkpoint " +
                run.string() + " --solver dopri5 --divergence hutchinson --probes 4");
  ASSERT_EQ(lik.code, 0) << lik.out;
  auto lj = nlohmann::json::parse(lik.out.substr(lik.out.rfind("{\"")));
  EXPECT_EQ(lj["n"], 300);
  // Hutchinson's estimate inside the per-sample solve agrees with the exact divergence (0.02 apart
  // with 4 probes on 300 points; a flipped divergence sign is off by more than 1).
  auto exact = sh(cli() + " eval --likelihood --samples " + (run / "eval/reference.npy").string() + " --checkpoint " +
                  run.string() + " --solver dopri5 --divergence exact");
  ASSERT_EQ(exact.code, 0) << exact.out;
  const double lp_exact = nlohmann::json::parse(exact.out.substr(exact.out.rfind("{\"")))["mean_log_p"].get<double>();
  EXPECT_NEAR(lj["mean_log_p"].get<double>(), lp_exact, 0.1);
  // And the model's density of its own target is that of a 2-D spread of a few units: log p ≈ −2.6.
  EXPECT_GT(lp_exact, -4.0);
  EXPECT_LT(lp_exact, -1.5);

  // Reflow: pairs from this 1-RF, then a 2-RF fine-tuned from it on those pairs is straighter.
  auto rf = sh(cli() + " run " + demo() + small(dir.path().string()) + " --stage reflow");
  ASSERT_EQ(rf.code, 0) << rf.out;
  EXPECT_TRUE(fs::exists(run / "pairs/manifest.json"));
  auto rf2 = sh(cli() + " run " + demo() + small(dir.path().string()) + " --set name=rf2 --set data.coupling=pairs" +
                " --set data.pairs=" + (run / "pairs").string() + " --set train.init_from=" + run.string());
  ASSERT_EQ(rf2.code, 0) << rf2.out;
  EXPECT_NE(rf2.out.find("initialised from"), std::string::npos);
  auto met2 = rflow::eval::read_model_eval((dir.path() / "rf2/eval/metrics.json").string());
  double s1 = met.straightness.straightness, s2 = met2.straightness.straightness;
  EXPECT_LT(s2, 0.5 * s1) << "1-RF " << s1 << " vs 2-RF " << s2;
  EXPECT_LT(met2.results[0].score("w2"), w2_1) << "one-step 2-RF must beat one-step 1-RF";

  auto info = sh(cli() + " info " + run.string());
  ASSERT_EQ(info.code, 0) << info.out;
  EXPECT_NE(info.out.find("step         400"), std::string::npos) << info.out;

  // --fresh starts the run over: the old results are gone and training runs again from step 0.
  auto fresh = sh(cli() + " run " + demo() + small(dir.path().string()) + " --fresh --stage train");
  ASSERT_EQ(fresh.code, 0) << fresh.out;
  EXPECT_NE(fresh.out.find("stage train: running"), std::string::npos) << fresh.out;
  EXPECT_EQ(fresh.out.find("resuming from"), std::string::npos) << fresh.out;
  EXPECT_FALSE(fs::exists(run / "eval/metrics.json"));
  EXPECT_FALSE(fs::exists(run / "pairs/manifest.json"));
  EXPECT_TRUE(fs::exists(run / "stages/train.done"));
}

// Reads eval/metrics.json of a model directory and the Euler W2 at an NFE.
rflow::eval::ModelEval metrics_of(const fs::path& dir) {
  return rflow::eval::read_model_eval((dir / "eval/metrics.json").string());
}
double euler_w2(const rflow::eval::ModelEval& met, double nfe) {
  for (const auto& r : met.results)
    if (r.solver == "euler" && r.nfe == nfe) return r.score("w2");
  ADD_FAILURE() << "no euler result at NFE " << nfe;
  return 0;
}
std::string small_chain(const std::string& out_dir) {
  return " --set out_dir=" + out_dir +
         " --set train.steps=1500 --set train.ckpt_every=0 --set reflow.pairs=3000 --set reflow.shard_size=1000"
         " --set reflow.train.steps=800 --set reflow.train.ckpt_every=0 --set distill.train.steps=150"
         " --set distill.train.warmup=15 --set distill.train.ckpt_every=0 --set eval.n=400 --set eval.nfe=[1,4,32] --set 'eval.solvers=[\"euler\"]'"
         " --set eval.trajectories=40";
}

TEST(Cli, ReflowChainStraightensAndItsStudentsStepOnce) {
  rflow::test::TempDir dir;
  const std::string cfg = std::string(RFLOW_SOURCE_DIR) + "/configs/reflow_8gaussians.toml";
  auto r = sh(cli() + " run " + cfg + small_chain(dir.path().string()) + " --set reflow.rounds=1 --set distill.from=[1,2]");
  ASSERT_EQ(r.code, 0) << r.out;
  const fs::path run = dir.path() / "reflow_8gaussians";
  for (const char* f : {"pairs/manifest.json", "2rf/checkpoints/LATEST", "2rf/pairs/manifest.json", "distill_1rf/eval/metrics.json",
                        "distill_2rf/eval/metrics.json", "2rf/inputs.json", "report.html"})
    EXPECT_TRUE(fs::exists(run / f)) << f;
  auto m1 = metrics_of(run), m2 = metrics_of(run / "2rf"), d1 = metrics_of(run / "distill_1rf"),
       d2 = metrics_of(run / "distill_2rf");
  const double s1 = m1.straightness.straightness, s2 = m2.straightness.straightness;
  EXPECT_LT(s2, 0.3 * s1) << "1-RF " << s1 << " vs 2-RF " << s2;
  EXPECT_LE(m2.straightness.transport_cost, 1.05 * m1.straightness.transport_cost);
  // One step: the 1-RF collapses, the 2-RF and both students do not. (Which student is better is
  // below what 400 points resolve; docs/results.md measures it on the full configs.)
  EXPECT_LT(euler_w2(m2, 1), 0.5 * euler_w2(m1, 1));
  EXPECT_LT(euler_w2(d2, 1), 0.5 * euler_w2(m1, 1));
  EXPECT_LT(euler_w2(d1, 1), 0.5 * euler_w2(m1, 1));
  EXPECT_EQ(d2.straightness.steps, 1);  // a one-step student's path is its one step
  // Students are measured at their own step count only (eval.nfe lists 1 and 8 for the 1-RF).
  ASSERT_EQ(d2.results.size(), 1u);
  EXPECT_EQ(d2.results[0].solver, "euler");
  EXPECT_EQ(d2.results[0].nfe, 1.0);
  EXPECT_GT(m1.results.size(), 1u);
  std::string html = rflow::test::read_text((run / "report.html").string());
  EXPECT_NE(html.find("Reflow and distillation"), std::string::npos);
  EXPECT_NE(html.find("2-RF + distill (1 step)"), std::string::npos);
  // Every stage is done: a rerun does nothing, and the students are ordinary runs for `rflow sample`.
  auto again = sh(cli() + " run " + cfg + small_chain(dir.path().string()) + " --set reflow.rounds=1 --set distill.from=[1,2]");
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_NE(again.out.find("stage distill: done already"), std::string::npos) << again.out;
  auto s = sh(cli() + " sample " + (run / "distill_2rf").string() + " --steps 1 -n 400 -o " + dir.file("s.npy"));
  ASSERT_EQ(s.code, 0) << s.out;
  auto sj = nlohmann::json::parse(s.out.substr(s.out.rfind("{\"")));
  EXPECT_EQ(sj["nfe_max"], 1);
  // Its one-step samples sit on the 8 gaussians (radius 4): mean radius near 4, not the noise's ~1.25.
  const double radius = rflow::io::read_npy(dir.file("s.npy")).norm(2, 1).mean().item<double>();
  EXPECT_NEAR(radius, 4.0, 0.6);
}

// The newer methods through the CLI as users run them: a PeRFlow student of a 1-RF samples better
// in 4 (and 2) steps than its teacher does; Consistency-FM trains from scratch to a 2-step sampler;
// `rflow delta` at scale 1 is the student and at scale 0 the base, bit for bit.
TEST(Cli, PerFlowConsistencyFmAndDeltaThroughTheCli) {
  rflow::test::TempDir dir;
  const std::string out = dir.path().string();
  const std::string eval4 = " --set eval.n=1000 --set eval.nfe=[1,2,4] --set 'eval.solvers=[\"euler\"]'"
                            " --set 'stages=[\"train\",\"eval\"]' --set threads=1 --set train.ckpt_every=0";
  auto r = sh(cli() + " run " + demo() + " --set out_dir=" + out + " --set train.steps=1500" + eval4);
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string teacher = out + "/demo_2d";
  auto score = [](const std::string& run, int nfe, const std::string& key) {
    const auto met = rflow::eval::read_model_eval(run + "/eval/metrics.json");
    const auto* res = met.find("euler", double(nfe));
    return res ? res->score(key) : -1.0;
  };
  auto w2 = [&](const std::string& run, int nfe) { return score(run, nfe, "w2"); };
  // The energy distance above the floor (a second target draw): at 4 steps both models are near
  // the floor in W2 at n = 1000 (0.79), where the energy distance still tells them apart.
  auto energy_excess = [&](const std::string& run, int nfe) {
    return score(run, nfe, "energy") -
           rflow::eval::read_model_eval(run + "/eval/metrics.json").floor_score("energy");
  };
  r = sh(cli() + " run " + std::string(RFLOW_SOURCE_DIR) + "/configs/perflow_8gaussians.toml --set out_dir=" + out +
         " --set method.teacher=" + teacher + " --set train.init_from=" + teacher + " --set train.steps=800" + eval4);
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string perflow = out + "/perflow_8gaussians";
  // Measured (1500-step teacher, 800-step student, one thread): energy excess 0.016 against 0.029
  // at 4 steps, W2 0.95 against 1.29 at 2 steps.
  EXPECT_LT(energy_excess(perflow, 4), 0.8 * energy_excess(teacher, 4)) << "4 straight windows in 4 Euler steps";
  EXPECT_LT(w2(perflow, 2), 0.85 * w2(teacher, 2));

  r = sh(cli() + " run " + std::string(RFLOW_SOURCE_DIR) + "/configs/consistency_fm_8gaussians.toml --set out_dir=" +
         out + " --set train.steps=1200 --set method.consistency_fm.phase1_steps=600" + eval4);
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string cfm = out + "/consistency_fm_8gaussians";
  EXPECT_GT(w2(cfm, 2), 0.0);
  EXPECT_LT(w2(cfm, 2), 0.75 * w2(cfm, 1)) << "its 2 segments, one step each";

  // rflow delta: base + scale × (student − teacher), sampled from the same noise.
  auto sample = [&](const std::string& model, const std::string& npy) {
    auto s = sh(cli() + " sample " + model + " --solver euler --steps 4 -n 64 --seed 3 -o " + npy);
    EXPECT_EQ(s.code, 0) << s.out;
    return rflow::test::read_text(npy);
  };
  for (double scale : {1.0, 0.0}) {
    const std::string file = out + "/delta_" + std::to_string(int(scale)) + ".safetensors";
    r = sh(cli() + " delta " + teacher + " --student " + perflow + " --teacher " + teacher + " --scale " +
           std::to_string(scale) + " -o " + file);
    ASSERT_EQ(r.code, 0) << r.out;
    const std::string want = sample(scale == 1.0 ? perflow : teacher, out + "/want.npy");
    EXPECT_EQ(sample(file, out + "/got.npy"), want) << "scale " << scale;
  }
}

TEST(Cli, ConditionalReflowWithAGuidedTeacherKeepsTheLabels) {
  rflow::test::TempDir dir;
  const std::string cfg = std::string(RFLOW_SOURCE_DIR) + "/configs/instaflow_8gaussians.toml";
  auto r = sh(cli() + " run " + cfg + small_chain(dir.path().string()) + " --set distill.from=[2]");
  ASSERT_EQ(r.code, 0) << r.out;
  const fs::path run = dir.path() / "instaflow_8gaussians";
  auto m1 = metrics_of(run), d2 = metrics_of(run / "distill_2rf");
  EXPECT_EQ(m1.guidance, 1.5);
  EXPECT_EQ(d2.guidance, 1.0);
  // Samples land in the mode of their label: the 1-NN label accuracy of the guided 1-RF at 32 steps
  // and of the one-step student stay near the ceiling of the target itself.
  const double ceiling = m1.floor_score("label_accuracy");
  EXPECT_GT(ceiling, 0.95);
  for (const auto* met : {&m1, &d2})
    for (const auto& res : (*met).results)
      if (res.nfe == (met->model == "1-RF" ? 32.0 : 1.0))
        EXPECT_GT(res.score("label_accuracy"), 0.9 * ceiling) << met->model;
  // Re-evaluated at another scale: the 1-RF takes the run's new eval.guidance, the student keeps 1.
  auto w1 = sh(cli() + " run " + run.string() + " --set eval.guidance=1 --set 'eval.nfe=[1]'");
  ASSERT_EQ(w1.code, 0) << w1.out;
  EXPECT_EQ(metrics_of(run).guidance, 1.0);
  EXPECT_EQ(metrics_of(run).results[0].settings["guidance"], 1.0);
  EXPECT_EQ(metrics_of(run / "distill_2rf").guidance, 1.0);
}

// The image chain at toy size: U-Net 1-RF → guided pairs → 2-RF → one-step student with the
// perceptual network's feature loss, evaluated by the shipped FID network (FID-proxy, class
// accuracy) and the judge (its accuracy, per-class diversity), PNG grids in the report. Distilling
// with the evaluator itself is refused, and marked in the report where the user opts in.
TEST(Cli, ImageChainIsEvaluatedByFidProxyWithGrids) {
  RFLOW_TEST_REQUIRES(fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"), "no Fashion-MNIST");
  rflow::test::TempDir dir;
  const std::string cfg = std::string(RFLOW_SOURCE_DIR) + "/configs/fmnist_cond.toml";
  const std::string toy =
      " --set out_dir=" + dir.path().string() +
      " --set 'stages=[\"train\",\"sample\",\"reflow\",\"distill\",\"eval\",\"report\"]'"
      " --set model.unet.channels=8 --set train.steps=20 --set train.batch_size=8 --set reflow.pairs=32"
      " --set reflow.steps=2 --set reflow.train.steps=10 --set reflow.train.batch_size=8"
      " --set distill.train.steps=10 --set distill.train.batch_size=8 --set sample.n=20 --set sample.steps=2"
      " --set eval.n=40 --set eval.batch=16 --set eval.nfe=[1,2] --set 'eval.solvers=[\"euler\"]'"
      " --set eval.straightness_steps=4 --set threads=1";
  auto refused = sh(cli() + " run " + cfg + toy + " --set method.distill.feature=fidnet");
  EXPECT_EQ(refused.code, 1) << refused.out;
  EXPECT_NE(refused.out.find("method.distill.feature"), std::string::npos) << refused.out;
  EXPECT_NE(refused.out.find("percept"), std::string::npos) << refused.out;
  EXPECT_FALSE(fs::exists(dir.path() / "fmnist_cond" / "checkpoints"));
  auto r = sh(cli() + " run " + cfg + toy);
  ASSERT_EQ(r.code, 0) << r.out;
  const fs::path run = dir.path() / "fmnist_cond";
  for (const char* p : {"samples/samples.png", "samples/labels.npy", "eval/reference.png", "eval/trajectory.png",
                        "eval/samples/euler_nfe1.png", "2rf/eval/metrics.json", "distill_2rf/eval/metrics.json"})
    EXPECT_TRUE(fs::exists(run / p)) << p;
  for (const char* m : {"eval/metrics.json", "2rf/eval/metrics.json", "distill_2rf/eval/metrics.json"}) {
    auto met = rflow::eval::read_model_eval((run / m).string());
    EXPECT_EQ(met.kind, "images") << m;
    // The teachers at NFE 1 and 2; the one-step student at its one step only.
    ASSERT_EQ(met.results.size(), std::string(m).rfind("distill", 0) == 0 ? 1u : 2u) << m;
    const double floor = met.floor_score("fid_proxy");
    EXPECT_EQ(met.fidnet.id, "f74f147525d63d07") << m;  // the shipped evaluator
    EXPECT_EQ(met.judge.id, "f45cd29eef3d33cb") << m;
    EXPECT_GT(met.floor_score("judge_accuracy"), 0.8) << m;
    EXPECT_NEAR(met.floor_score("diversity"), 1.0, 0.25) << m;  // 40 real images against the test set's spread
    for (const auto& res : met.results) {
      // 20 training steps are nowhere near real images, nor recognisably of their class.
      EXPECT_GT(res.score("fid_proxy"), 3 * floor) << m;
      EXPECT_LT(res.score("class_accuracy"), 0.5) << m;
      EXPECT_LT(res.score("judge_accuracy"), 0.5) << m;
      EXPECT_TRUE(std::isfinite(res.score("diversity"))) << m;
    }
  }
  // `rflow eval --checkpoint` scores an image checkpoint as the eval stage does: with the run's seed
  // and n it draws the same noise, labels and reference, so it reproduces the stage's number.
  {
    auto stage = rflow::eval::read_model_eval((run / "eval/metrics.json").string());
    const rflow::eval::SolverResult* two = nullptr;
    for (const auto& res : stage.results)
      if (res.solver == "euler" && res.steps == 2) two = &res;
    ASSERT_NE(two, nullptr);
    auto e = sh(cli() + " eval --checkpoint " + run.string() + " --steps 2 --guidance 1.5 -n 40 --seed 0");
    ASSERT_EQ(e.code, 0) << e.out;
    // The result is one JSON line (the progress bar goes before it).
    auto result_line = [](const std::string& out) {
      const size_t at = out.find("{\"class_accuracy\"");
      return nlohmann::json::parse(out.substr(at, out.find('\n', at) - at));
    };
    const auto j = result_line(e.out);
    EXPECT_NEAR(j.at("fid_proxy").get<double>(), two->score("fid_proxy"), 1e-6 * two->score("fid_proxy")) << e.out;
    EXPECT_DOUBLE_EQ(j.at("class_accuracy").get<double>(), two->score("class_accuracy")) << e.out;
    EXPECT_NEAR(j.at("floor").at("fid_proxy").get<double>(), stage.floor_score("fid_proxy"), 1e-9) << e.out;
    EXPECT_EQ(j.at("settings").at("nfe"), 2) << e.out;
    // Unguided, the same checkpoint scores differently: the flag reaches the solve.
    auto u = sh(cli() + " eval --checkpoint " + run.string() + " --steps 2 -n 40 --seed 0");
    ASSERT_EQ(u.code, 0) << u.out;
    EXPECT_NE(result_line(u.out).at("fid_proxy").get<double>(),
              j.at("fid_proxy").get<double>());
    auto big = sh(cli() + " eval --checkpoint " + run.string() + " -n 20000");
    EXPECT_EQ(big.code, 1) << big.out;
    EXPECT_NE(big.out.find("10000"), std::string::npos) << big.out;
  }
  std::string html = rflow::test::read_text((run / "report.html").string());
  EXPECT_NE(html.find("data:image/png;base64,"), std::string::npos);
  EXPECT_NE(html.find("FID-proxy"), std::string::npos);
  EXPECT_NE(html.find("second opinion"), std::string::npos);
  EXPECT_EQ(html.find("EVALUATED BY THE LOSS NETWORK"), std::string::npos);
  // With the opt-in the run is allowed, and its report says what the figures are worth.
  auto marked = sh(cli() + " run " + cfg + toy + " --set name=marked --set method.distill.feature=fidnet"
                   " --set method.distill.allow_eval_network=true");
  ASSERT_EQ(marked.code, 0) << marked.out;
  EXPECT_NE(rflow::test::read_text((dir.path() / "marked" / "report.html").string()).find("EVALUATED BY THE LOSS NETWORK"),
            std::string::npos);
  auto s = sh(cli() + " fidnet score " + (run / "samples/samples.npy").string() + " --labels " +
              (run / "samples/labels.npy").string());
  ASSERT_EQ(s.code, 0) << s.out;
  EXPECT_NE(s.out.find("fid_proxy"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("class_accuracy"), std::string::npos) << s.out;
  // Real training images with their true labels: near the floor, and classified about as well as
  // the network classifies the test set (a label off by one would score ~10%).
  const std::string data = "/usr/share/datasets/fashion-mnist/";
  auto images = rflow::io::read_idx(data + "train-images-idx3-ubyte.gz").narrow(0, 50000, 1000);
  auto labels = rflow::io::read_idx(data + "train-labels-idx1-ubyte.gz").narrow(0, 50000, 1000);
  rflow::io::write_npy(dir.file("real.npy"), (images.to(torch::kFloat32) / 127.5 - 1).unsqueeze(1));
  rflow::io::write_npy(dir.file("real_labels.npy"), labels.to(torch::kInt64));
  auto real = sh(cli() + " fidnet score " + dir.file("real.npy") + " --labels " + dir.file("real_labels.npy"));
  ASSERT_EQ(real.code, 0) << real.out;
  double fid = -1, acc = -1, own = -1;
  ASSERT_EQ(std::sscanf(real.out.substr(real.out.find("fid_proxy")).c_str(), "fid_proxy %lf", &fid), 1) << real.out;
  ASSERT_EQ(std::sscanf(real.out.substr(real.out.find("class_accuracy")).c_str(),
                        "class_accuracy %lf (classifier's own test accuracy %lf", &acc, &own), 2) << real.out;
  const double floor = rflow::eval::read_model_eval((run / "eval/metrics.json").string()).floor_score("fid_proxy");
  EXPECT_LT(fid, 2 * floor + 1) << "1000 real images against the test set";
  EXPECT_GT(own, 0.5);
  EXPECT_NEAR(acc, own, 0.1);
}

// Ctrl-C during training writes a checkpoint at the step reached and says how to resume; the same
// command resumes from it. (SIGINT arrives after 3 s of a run far longer than that.)
TEST(Cli, InterruptedTrainingCheckpointsAndTheSameCommandResumes) {
  rflow::test::TempDir dir;
  const std::string cmd = cli() + " run " + demo() + " --set out_dir=" + dir.path().string() +
                          " --set train.steps=1000000 --set train.ckpt_every=0 --set threads=1 --stage train";
  auto first = sh("timeout -s INT 3 " + cmd);
  EXPECT_EQ(first.code, 124) << first.out;  // timeout's own code: it had to send the signal
  ASSERT_NE(first.out.find("interrupted at step"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("rerun the same command to resume"), std::string::npos) << first.out;
  const fs::path ckpts = dir.path() / "demo_2d" / "checkpoints";
  ASSERT_TRUE(fs::exists(ckpts / "LATEST")) << first.out;
  const std::string latest = rflow::test::read_text((ckpts / "LATEST").string());
  const long step = std::stol(latest.substr(latest.find('_') + 1));
  EXPECT_GT(step, 0);
  EXPECT_NE(first.out.find("interrupted at step " + std::to_string(step)), std::string::npos) << first.out;
  auto second = sh("timeout -s INT 3 " + cmd);
  EXPECT_NE(second.out.find("resuming from"), std::string::npos) << second.out;
  EXPECT_NE(second.out.find("(step " + std::to_string(step) + ")"), std::string::npos) << second.out;
}

// `rflow run` killed with SIGKILL in the middle of a stage (the 2-RF's training, after its first
// checkpoint) and run again ends with the same pairs and the same 2-RF, bit for bit, as a run that
// was never interrupted.
TEST(Cli, KilledMidStageTheRerunEqualsAnUninterruptedRun) {
  rflow::test::TempDir dir;
  auto args = [&](const std::string& out) {
    return std::vector<std::string>{cli(), "run", demo(), "--set", "out_dir=" + out, "--set", "threads=1",
                                    "--set", "model.mlp.hidden=64", "--set", "train.steps=200", "--set", "reflow.pairs=1000",
                                    "--set", "reflow.shard_size=250", "--set", "reflow.rounds=1", "--set",
                                    "reflow.train.steps=1000", "--set", "reflow.train.batch_size=128", "--set",
                                    "reflow.train.ckpt_every=50", "--set",
                                    "stages=[\"train\", \"reflow\"]"};
  };
  auto quoted = [](const std::vector<std::string>& a) {
    std::string cmd;
    for (const auto& s : a) cmd += " '" + s + "'";
    return cmd;
  };
  const fs::path whole = dir.path() / "whole", killed = dir.path() / "killed";
  auto r = sh(quoted(args(whole.string())));
  ASSERT_EQ(r.code, 0) << r.out;

  const std::string log = (dir.path() / "killed.log").string();
  const pid_t pid = rflow::test::spawn(args(killed.string()), log);
  ASSERT_GE(pid, 0);
  const fs::path latest = killed / "demo_2d" / "2rf" / "checkpoints" / "LATEST";
  for (int i = 0; i < 60000 && !fs::exists(latest); ++i) usleep(1000);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended before it was killed: " << rflow::test::read_text(log);
  ASSERT_TRUE(fs::exists(latest)) << rflow::test::read_text(log);
  ASSERT_FALSE(fs::exists(killed / "demo_2d" / "stages" / "reflow.done"));
  const std::string at = rflow::test::read_text(latest.string());
  EXPECT_LT(std::stol(at.substr(at.find('_') + 1)), 1000) << "not killed mid-stage";

  auto again = sh(quoted(args(killed.string())));
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_NE(again.out.find("resuming from"), std::string::npos) << again.out;
  auto tensors = [](const fs::path& run, const std::string& file) {
    return rflow::io::load_safetensors((run / "demo_2d" / file).string()).tensors;
  };
  for (const std::string f : {"2rf/checkpoints/step_00001000/model.safetensors",
                              "2rf/checkpoints/step_00001000/ema.safetensors", "pairs/shard_00003.safetensors"}) {
    auto a = tensors(whole, f), b = tensors(killed, f);
    ASSERT_EQ(a.size(), b.size()) << f;
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << f << " " << a[i].first;
  }
}

TEST(Cli, MistakesGiveOneClearLineAndTheDocumentedExitCode) {
  rflow::test::TempDir dir;
  rflow::test::write_text(dir.file("bad.toml"), "[train]\nstepz = 3\n");
  auto r = sh(cli() + " run " + dir.file("bad.toml"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("did you mean 'train.steps'"), std::string::npos) << r.out;
  r = sh(cli() + " sample " + dir.path().string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("no checkpoint found"), std::string::npos) << r.out;
  rflow::test::write_text(dir.file("nan.npy"), "");
  r = sh(cli() + " run " + demo() + " --set out_dir=" + dir.path().string() +
         " --set data.target.name=npy --set data.target.path=" + dir.file("missing.npy"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("missing.npy"), std::string::npos) << r.out;
  r = sh(cli() + " run --list-keys");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("train.lr"), std::string::npos);
  r = sh(cli() + " list");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("rk4"), std::string::npos);
  // The registries are listed by `rflow list`, not at the end of every --help.
  r = sh(cli() + " sample --help");
  EXPECT_EQ(r.out.find("distributions ("), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Examples:"), std::string::npos) << r.out;
  // A mistyped command names the nearest one, also one level down; --stage is checked first.
  // A wrong command line (exit code 2) is answered in the same style, with the nearest command,
  // option or file.
  r = sh(cli() + " smaple runs/x");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("did you mean 'rflow sample'"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("rflow: error: rflow:"), std::string::npos) << "the prefix once: " << r.out;
  r = sh(cli() + " fidnet scor x.npy");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("did you mean 'rflow fidnet score'"), std::string::npos) << r.out;
  r = sh(cli() + " sample runs/x --stepz 4");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("unknown option '--stepz' (did you mean '--steps'?"), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << "one line: " << r.out;
  const std::string typo = demo().substr(0, demo().size() - 7) + ".toml";  // demo_2d.toml → demo_.toml
  r = sh(cli() + " run " + typo);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("did you mean '" + demo() + "'"), std::string::npos) << r.out;
  r = sh(cli() + " sample");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("rflow sample --help"), std::string::npos) << r.out;
  // A run directory mistyped (an input, exit code 1) names the one that is there.
  fs::create_directories(dir.path() / "first");
  r = sh(cli() + " sample " + (dir.path() / "frist").string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("no such run or file"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("did you mean '" + (dir.path() / "first").string() + "'"), std::string::npos) << r.out;
  r = sh(cli() + " run " + demo() + " --set out_dir=" + dir.file("stagecheck") + " --stage evl");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("did you mean 'eval'"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("running"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir.path() / "stagecheck")) << "nothing is created before the stages are checked";
  r = sh(cli() + " --version");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("rflow 0."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(git "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("LibTorch"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("BLAS"), std::string::npos) << r.out;
}

// What a hostile or careless user meets on a trained run: outputs that would replace a link are
// refused, ambiguous or malformed inputs get one clear line, a damaged checkpoint is never loaded,
// and a missing EMA is said out loud.
TEST(Cli, UnsafeOutputsAndBadInputsOnATrainedRunAreRefusedClearly) {
  rflow::test::TempDir dir;
  const std::string tiny = " --set out_dir=" + dir.path().string() +
                           " --set model.mlp.hidden=32 --set train.steps=50 --set train.ckpt_every=25"
                           " --set 'stages=[\"train\"]' --set threads=1";
  auto r = sh(cli() + " run " + demo() + tiny);
  ASSERT_EQ(r.code, 0) << r.out;
  const fs::path run = dir.path() / "demo_2d";
  const std::string target = dir.file("real.npy"), link = dir.file("link.npy");
  rflow::test::write_text(target, "keep");
  fs::create_symlink(target, link);
  r = sh(cli() + " sample " + run.string() + " -n 8 -o " + link);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("symbolic link"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(link)));
  EXPECT_EQ(rflow::test::read_text(target), "keep");

  const std::string pts = dir.file("pts.npy");
  rflow::io::write_npy(pts, torch::randn({16, 2}));
  r = sh(cli() + " eval --samples " + pts + " --checkpoint " + run.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("two ways"), std::string::npos) << r.out;
  for (const auto& [shape, says] : std::vector<std::pair<std::vector<int64_t>, std::string>>{
           {{16}, "2-D array"}, {{0, 2}, "no rows"}, {{16, 3}, "3 dimensions, the model 2"}}) {
    rflow::io::write_npy(pts, torch::zeros(shape));
    r = sh(cli() + " eval --likelihood --samples " + pts + " --checkpoint " + run.string());
    EXPECT_EQ(r.code, 1) << says;
    EXPECT_NE(r.out.find(says), std::string::npos) << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << "one line: " << r.out;
  }

  // NaN in the newest checkpoint's weights: sampling falls back to the older one, says so, and
  // its samples are finite.
  const fs::path newest = run / "checkpoints" / "step_00000050" / "ema.safetensors";
  auto st = rflow::io::load_safetensors(newest.string());
  st.tensors[0].second.view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
  rflow::io::save_safetensors(newest.string(), st.tensors, st.metadata);
  const std::string out = dir.file("s.npy");
  r = sh(cli() + " sample " + run.string() + " -n 8 -o " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("skipped damaged step_00000050"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("NaN/Inf"), std::string::npos) << r.out;
  EXPECT_TRUE(torch::isfinite(rflow::io::read_npy(out)).all().item<bool>());
  // Without its EMA file the older checkpoint is used with its raw weights, and the user is told.
  fs::remove(run / "checkpoints" / "step_00000025" / "ema.safetensors");
  r = sh(cli() + " sample " + run.string() + " -n 8 -o " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("no EMA weights"), std::string::npos) << r.out;
  r = sh(cli() + " run " + demo() + " --set out_dir=" + dir.file("zero") + " --set train.steps=0");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("train.steps"), std::string::npos) << r.out;
}

TEST(Cli, InfoSystemNamesTheKernelsAndTheUsersCoreWins) {
  auto r = sh(cli() + " info --system --json");
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  for (const char* key : {"cpu", "cpu_isa", "blas", "blas_core", "torch", "onednn_isa", "threads"})
    EXPECT_TRUE(j.contains(key)) << key;
  if (j["blas_action"] == "not-openblas") GTEST_SKIP() << "BLAS is not OpenBLAS";
  auto forced = sh("OPENBLAS_CORETYPE=Prescott " + cli() + " info --system --json");
  ASSERT_EQ(forced.code, 0) << forced.out;
  auto f = nlohmann::json::parse(forced.out);
  EXPECT_EQ(f["blas_core"], "Prescott");
  EXPECT_EQ(f["blas_action"], "user");
  auto text = sh(cli() + " info --system");
  EXPECT_NE(text.out.find("blas core"), std::string::npos) << text.out;
  auto none = sh(cli() + " info");
  EXPECT_EQ(none.code, 1);
  EXPECT_NE(none.out.find("--system"), std::string::npos) << none.out;
}

// `rflow policy`: train the maze policy, judge it in closed loop with a picture of the paths,
// compare it with behaviour cloning and other samplers, and act as a control-loop step (a line of numbers per observation in, a chunk per line out).
TEST(Cli, PolicyTrainsEvaluatesInClosedLoopAndActs) {
  rflow::test::TempDir dir;
  const std::string config = std::string(RFLOW_SOURCE_DIR) + "/configs/adaflow_maze.toml";
  const std::string run = dir.file("adaflow_maze");
  auto r = sh(cli() + " policy train " + config + " --set out_dir=" + dir.path().string() +
              " --set train.steps=1500 --set threads=1");
  ASSERT_EQ(r.code, 0) << r.out;
  r = sh(cli() + " policy eval " + run + " --episodes 40 --plot " + dir.file("paths.svg") + " --report " +
         dir.file("report.html"));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  EXPECT_EQ(j.at("task"), "maze");
  EXPECT_GE(j.at("success_rate").get<double>(), 0.8) << r.out;
  EXPECT_GE(j.at("distinct_routes").get<int64_t>(), 2) << r.out;
  EXPECT_LE(j.at("nfe_per_chunk").get<double>(), 3.0) << r.out;
  EXPECT_NE(rflow::test::read_text(dir.file("paths.svg")).find("<polyline"), std::string::npos);
  const std::string html = rflow::test::read_text(dir.file("report.html"));
  for (const char* want : {"<dt>success</dt>", "<polyline", "flow loss", "variance NLL", "differ from the defaults",
                           "<dt>route entropy (bits)</dt>", "route A (shortest)"})
    EXPECT_NE(html.find(want), std::string::npos) << want;

  // Beside behaviour cloning and fixed steps: one table, a row per (run, sampler), BC one row.
  r = sh(cli() + " policy train " + config + " --set out_dir=" + dir.path().string() +
         " --set name=bc --set method.name=bc --set model.mlp.variance_hidden=0 --set train.steps=300 --set threads=1");
  ASSERT_EQ(r.code, 0) << r.out;
  r = sh(cli() + " policy compare " + run + " " + dir.file("bc") + " --episodes 20 --samplers adaflow:0.5,euler:20 -o " +
         dir.file("compare.html"));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto rows = nlohmann::json::parse(r.out.substr(r.out.find("[\n  {")));  // after the log lines
  ASSERT_EQ(rows.size(), 3u) << r.out;
  EXPECT_EQ(rows[0].at("sampler"), "adaflow:0.5");
  EXPECT_LE(rows[0].at("nfe_per_chunk").get<double>(), 3.0);
  EXPECT_EQ(rows[1].at("nfe_per_chunk").get<double>(), 20.0);
  EXPECT_EQ(rows[2].at("run"), "bc");
  EXPECT_EQ(rows[2].at("sampler"), "euler:1");
  EXPECT_LT(rows[2].at("route_entropy_bits").get<double>(), 0.3);
  const std::string page = rflow::test::read_text(dir.file("compare.html"));
  for (const char* want : {"route entropy", "bc (300 steps) · euler:1", "adaflow_maze (1500 steps) · adaflow:0.5", "<polyline",
                           "<th>training steps</th>"})
    EXPECT_NE(page.find(want), std::string::npos) << want;
  EXPECT_EQ(rows[2].at("training_steps"), 300);
  r = sh(cli() + " policy compare " + run + " --samplers adaflow:0.5,eulr:4");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("unknown solver 'eulr'"), std::string::npos) << r.out;

  rflow::test::write_text(dir.file("obs.txt"), "-1 0\n\n-0.6 -1\n0.8 1\n");
  r = sh(cli() + " policy act " + run + " --solver euler --steps 20 --input " + dir.file("obs.txt"));
  ASSERT_EQ(r.code, 0) << r.out;
  std::istringstream lines(r.out);
  int chunks = 0;
  for (std::string line; std::getline(lines, line);) {
    std::istringstream nums(line);
    int n = 0;
    for (double v; nums >> v;) ++n;
    EXPECT_EQ(n, 8) << line;  // 4 moves × 2
    ++chunks;
  }
  EXPECT_EQ(chunks, 3);
  r = sh("printf '0.5\\n' | " + cli() + " policy act " + run);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("line 1: expected 2 finite numbers"), std::string::npos) << r.out;
  // The distance stages are refused for a policy, before any training.
  r = sh(cli() + " run " + config + " --set out_dir=" + dir.file("other") + " --set 'stages=[\"train\",\"eval\"]'");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("only the train stage"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rflow policy eval"), std::string::npos) << r.out;  // what does work
  EXPECT_FALSE(fs::exists(dir.file("other") + "/adaflow_maze/checkpoints"));
  // `rflow compare` is for distance-evaluated runs: for a policy it names the command that works.
  r = sh(cli() + " compare " + run + " " + dir.file("bc") + " -o " + dir.file("c.html"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("it is a policy: compare policies with `rflow policy compare " + run), std::string::npos) << r.out;
}

// `rflow compare` on a run without eval results names the command that evaluates it, and that
// command works; runs evaluated on draws of different sizes are compared with a warning, and each
// row says which config keys set its run apart.
TEST(Cli, CompareSaysHowToEvaluateAndWarnsWhenRunsAreNotOnOneScale) {
  rflow::test::TempDir dir;
  const std::string demo = std::string(RFLOW_SOURCE_DIR) + "/configs/demo_2d.toml";
  const std::string out = " --set out_dir=" + dir.path().string() + " --set train.steps=60 --set eval.nfe=[1,2]"
                          " --set 'eval.solvers=[\"euler\"]' --set threads=1";
  auto r = sh(cli() + " run " + demo + out + " --set name=a --set eval.n=200 --set 'stages=[\"train\"]'");
  ASSERT_EQ(r.code, 0) << r.out;
  r = sh(cli() + " run " + demo + out + " --set name=b --set eval.n=300 --set data.coupling=ot --set 'stages=[\"train\",\"eval\"]'");
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string a = dir.file("a"), b = dir.file("b"), page = dir.file("c.html");
  r = sh(cli() + " compare " + a + " " + b + " -o " + page);
  EXPECT_EQ(r.code, 1);
  const std::string hint = "rflow run " + a + " --stage eval";
  ASSERT_NE(r.out.find("evaluate it first: `" + hint + "`"), std::string::npos) << r.out;
  r = sh(cli() + " " + hint.substr(6));
  ASSERT_EQ(r.code, 0) << r.out;
  r = sh(cli() + " compare " + a + " " + b + " -o " + page);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("evaluated on draws of different sizes (n = 200 (a); n = 300 (b))"), std::string::npos) << r.out;
  const std::string html = rflow::test::read_text(page);
  EXPECT_NE(html.find("Not on one scale"), std::string::npos);
  EXPECT_NE(html.find("data.coupling = &quot;ot&quot;, eval.n = 300"), std::string::npos) << html;
}

// What the reliability probe found losing or trusting blindly: --fresh through a symbolic link
// would wipe the run it points to; a delta scaled past the float range, and a weight file with NaN
// weights, were reported as success.
TEST(Cli, FreshThroughALinkNonFiniteDeltasAndNaNWeightFilesAreRefused) {
  rflow::test::TempDir dir;
  const std::string demo = std::string(RFLOW_SOURCE_DIR) + "/configs/demo_2d.toml";
  const std::string out = " --set out_dir=" + dir.path().string() + " --set train.steps=20 --set 'stages=[\"train\"]' --set threads=1";
  auto r = sh(cli() + " run " + demo + out + " --set name=victim");
  ASSERT_EQ(r.code, 0) << r.out;
  fs::create_directory_symlink(dir.file("victim"), dir.file("alias"));
  r = sh(cli() + " run " + demo + out + " --set name=alias --fresh");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("is a symbolic link"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(dir.file("victim/checkpoints/step_00000020/model.safetensors")));

  const std::string v = dir.file("victim");
  r = sh(cli() + " delta " + v + " --student " + v + " --teacher " + v + " --scale -1e300 -o " + dir.file("d.safetensors"));
  // The student equals the teacher here: a zero delta stays finite at any scale. Against a copy
  // trained further it does not.
  EXPECT_EQ(r.code, 0) << r.out;
  r = sh(cli() + " run " + demo + out + " --set name=longer --set train.steps=40");
  ASSERT_EQ(r.code, 0) << r.out;
  r = sh(cli() + " delta " + v + " --student " + dir.file("longer") + " --teacher " + v + " --scale -1e300 -o " +
         dir.file("e.safetensors"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("not finite"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--scale"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir.file("e.safetensors")));

  const std::string file = dir.file("nan.safetensors");
  fs::copy_file(v + "/checkpoints/step_00000020/ema.safetensors", file);
  auto w = rflow::io::load_safetensors(file);
  w.tensors.back().second = w.tensors.back().second * std::nan("");
  rflow::io::save_safetensors(file, w.tensors, w.metadata);
  for (const std::string cmd : {" info " + file, " sample " + file + " -n 4 -o " + dir.file("s.npy")}) {
    r = sh(cli() + cmd);
    EXPECT_EQ(r.code, 1) << cmd << ": " << r.out;
    EXPECT_NE(r.out.find("NaN/Inf"), std::string::npos) << r.out;
  }
}

// Everything a run or a command will need is checked before work starts, and each refusal names
// the key or flag: a W2 sample too large for the exact solver, a checkpoints folder that is a file,
// absurd dimensions, threads or names, times and step counts past any use, a sample that cannot fit
// in memory, a folder given as observations, images and labels out of range (before the network).
TEST(Cli, EverythingAWorkNeedsIsCheckedBeforeItStartsAndTheRefusalNamesTheKey) {
  rflow::test::TempDir dir;
  const std::string demo = std::string(RFLOW_SOURCE_DIR) + "/configs/demo_2d.toml";
  const std::string out = " --set out_dir=" + dir.path().string() + " --set train.steps=20 --set threads=1";
  struct Case {
    std::string args, key;
  };
  const std::string long_name(100000, 'n');
  const std::vector<Case> runs{{" --set eval.n=100000", "eval.n: "},
                               {" --set data.source.gaussian.dim=100000000", "data.source.gaussian.dim: "},
                               {" --set threads=1024", "threads: "},
                               {" --set 'name=a\tb'", "name: name holds control characters"},
                               {" --set name=" + long_name, "name: name is 100000 bytes long"}};
  for (const auto& [args, key] : runs) {
    auto r = sh(cli() + " run " + demo + out + args);
    EXPECT_EQ(r.code, 1) << args << ": " << r.out;
    EXPECT_NE(r.out.find(key), std::string::npos) << args << ": " << r.out;
    EXPECT_LT(r.out.size(), 2000u) << "the input is not echoed back whole";
    EXPECT_EQ(r.out.find("step 20/20"), std::string::npos) << args << ": trained before refusing";
  }
  fs::create_directories(dir.file("demo_2d"));
  rflow::test::write_text(dir.file("demo_2d/checkpoints"), "a file in the way");
  auto r = sh(cli() + " run " + demo + out);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("the checkpoints folder is not a folder"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("step 20/20"), std::string::npos) << r.out;
  rflow::io::remove_tree(dir.file("demo_2d"));
  r = sh(cli() + " run " + demo + out + " --set 'stages=[\"train\"]'");
  ASSERT_EQ(r.code, 0) << r.out;

  const std::string run = dir.file("demo_2d"), o = " -o " + dir.file("s.npy");
  const std::vector<Case> samples{{" -n 4" + o + " --t1 1e300", "t0/t1: t0 and t1 must be in [-1000, 1000]"},
                                  {" -n 4" + o + " --steps 99999999999", "steps must be in [1, 1000000]"},
                                  {o + " -n 50000000000000", "--num: 50000000000000 samples make a 400000.0 GB file"},
                                  {" -n 4" + o + " --grid 0 0.5 1", "lists take one comma-separated argument"},
                                  {" -n 4 -o " + dir.file("fifo.npy"), "the output path is a fifo"}};
  ASSERT_EQ(::mkfifo(dir.file("fifo.npy").c_str(), 0600), 0);
  for (const auto& [args, key] : samples) {
    r = sh("timeout 60 " + cli() + " sample " + run + args);
    EXPECT_TRUE(r.code == 1 || r.code == 2) << args << ": " << r.out;
    EXPECT_NE(r.out.find(key), std::string::npos) << args << ": " << r.out;
  }
  r = sh(cli() + " sample " + run + " -n 4 --grid 0,0.5,1" + o);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("\"field_calls\":2"), std::string::npos) << r.out;
  r = sh(cli() + " sample --help");
  EXPECT_NE(r.out.find("--grid FLOAT,..."), std::string::npos) << r.out;

  r = sh(cli() + " policy train " + std::string(RFLOW_SOURCE_DIR) + "/configs/adaflow_maze.toml" + out);
  ASSERT_EQ(r.code, 0) << r.out;
  r = sh(cli() + " policy act " + dir.file("adaflow_maze") + " --input " + dir.path().string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("this is a directory, not a file"), std::string::npos) << r.out;

  // fidnet score: images and labels checked before the network is loaded.
  rflow::io::write_npy(dir.file("wide.npy"), torch::rand({6, 1, 28, 28}) * 200 - 100);
  rflow::io::write_npy(dir.file("ok.npy"), torch::rand({6, 1, 28, 28}) * 2 - 1);
  rflow::io::write_npy(dir.file("l99.npy"), torch::full({6}, 99, torch::kInt64));
  rflow::io::write_npy(dir.file("lhalf.npy"), torch::arange(6, torch::kFloat) + 0.5);
  rflow::io::write_npy(dir.file("lfew.npy"), torch::arange(3, torch::kInt64));
  const std::vector<Case> scores{{"wide.npy", "the images range from"},
                                 {"ok.npy --labels " + dir.file("l99.npy"), "labels from 99 to 99"},
                                 {"ok.npy --labels " + dir.file("lhalf.npy"), "not whole numbers"},
                                 {"ok.npy --labels " + dir.file("lfew.npy"), "3 labels for 6 samples"}};
  for (const auto& [args, key] : scores) {
    r = sh("cd " + dir.path().string() + " && RFLOW_FIDNET=/nonexistent " + cli() + " fidnet score " + args);
    EXPECT_EQ(r.code, 1) << args << ": " << r.out;
    EXPECT_NE(r.out.find(key), std::string::npos) << args << ": " << r.out;
  }
}

// Large sample sets are solved and written a chunk at a time: the file is the same array the
// chunks make (the first chunk equal to a sample of that size alone, labels cycling on across
// chunks, log-densities beside them).
TEST(Cli, LargeSampleSetsAreSolvedAndWrittenInChunks) {
  rflow::test::TempDir dir;
  const std::string demo = std::string(RFLOW_SOURCE_DIR) + "/configs/demo_2d.toml";
  auto r = sh(cli() + " run " + demo + " --set out_dir=" + dir.path().string() +
              " --set train.steps=30 --set 'stages=[\"train\"]' --set threads=1 --set data.labels=true --set model.num_classes=8");
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string run = dir.file("demo_2d");
  r = sh(cli() + " sample " + run + " -n 1000 --chunk 300 --steps 3 --likelihood --solver euler -o " + dir.file("big.npy"));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.rfind("{\"")));
  EXPECT_EQ(j.at("n"), 1000);
  EXPECT_EQ(j.at("field_calls"), 4 * 3);  // four solves of three steps
  r = sh(cli() + " sample " + run + " -n 300 --steps 3 --likelihood --solver euler -o " + dir.file("small.npy"));
  ASSERT_EQ(r.code, 0) << r.out;
  const at::Tensor big = rflow::io::read_npy(dir.file("big.npy")), small = rflow::io::read_npy(dir.file("small.npy"));
  ASSERT_EQ(big.sizes(), (std::vector<int64_t>{1000, 2}));
  EXPECT_TRUE(torch::equal(big.narrow(0, 0, 300), small));
  EXPECT_FALSE(torch::equal(big.narrow(0, 300, 300), small));  // later chunks draw on
  const at::Tensor labels = rflow::io::read_npy(dir.file("big.labels.npy"));
  EXPECT_TRUE(torch::equal(labels, torch::remainder(torch::arange(1000, torch::kInt64), 8)));
  EXPECT_EQ(rflow::io::read_npy(dir.file("big.logp.npy")).size(0), 1000);
  EXPECT_TRUE(torch::equal(rflow::io::read_npy(dir.file("big.logp.npy")).narrow(0, 0, 300), rflow::io::read_npy(dir.file("small.logp.npy"))));
}

// A run that fails before it trains anything (a teacher not there yet) says which path it looked
// for and freezes nothing: with the path fixed, the same run goes on. A run without the report
// stage does not announce a report.
TEST(Cli, ARunThatFailedBeforeTrainingCanBeFixedAndRerun) {
  rflow::test::TempDir dir;
  const std::string perflow = std::string(RFLOW_SOURCE_DIR) + "/configs/perflow_8gaussians.toml";
  const std::string out = " --set out_dir=" + dir.path().string() + " --set train.steps=20 --set 'stages=[\"train\"]' --set threads=1";
  auto r = sh(cli() + " run " + perflow + out + " --set train.init_from=" + dir.file("teachr") +
              " --set method.teacher=" + dir.file("teachr"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("no checkpoint to initialise from at '" + dir.file("teachr") + "'"), std::string::npos) << r.out;
  r = sh(cli() + " run " + demo() + " --set out_dir=" + dir.path().string() + " --set name=teacher --set train.steps=50" +
         " --set 'stages=[\"train\"]' --set threads=1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find("report.html"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no report"), std::string::npos) << r.out;
  r = sh(cli() + " run " + perflow + out + " --set train.init_from=" + dir.file("teacher") + " --set method.teacher=" +
         dir.file("teacher"));  // train.init_from changed: allowed, the failed run made no model
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(dir.path() / "perflow_8gaussians" / "stages" / "train.done"));
}
