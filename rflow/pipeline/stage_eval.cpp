#include <filesystem>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/progress.h"
#include "rflow/core/rng.h"
#include "rflow/eval/compare.h"
#include "rflow/eval/label_accuracy.h"
#include "rflow/eval/straightness.h"
#include "rflow/io/atomic_file.h"
#include "rflow/io/npy.h"
#include "rflow/pipeline/chain.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/train/checkpoint.h"
#include "rflow/pipeline/stages.h"
#include "rflow/core/error.h"
#include "rflow/solve/likelihood.h"
#include "rflow/solve/solver.h"

namespace fs = std::filesystem;

namespace rflow {

namespace {

// Evaluates one model of the run (all with the same draws, so numbers compare across models).
void eval_model(StageContext& ctx, const ChainModel& cm) {
  const RunConfig& cfg = ctx.cfg;
  const EvalConfig& ec = cfg.eval;
  LoadedModel m = load_model(cm.dir, cfg.sample.use_ema, ctx.device);
  auto& coupling = m.data;  // built once by load_model (an npy target is read once)
  const fs::path dir = fs::path(cm.dir) / "eval";
  // Class-conditional models are sampled with the labels of the reference draw, so the label mix
  // (and hence the marginal they should match) is the target's.
  const bool labeled = m.cfg.data.labels;
  // The model's own config says its scale: the 1-RF's eval.guidance; models trained on guided pairs 1.
  const double guidance = m.cfg.eval.guidance;
  fs::create_directories(dir / "results");
  fs::create_directories(dir / "samples");

  // Fixed draws, independent of the order or subset of evaluations run.
  seed_all(static_cast<uint64_t>(cfg.seed) + 2);
  at::Tensor x0 = coupling->source().sample(ec.n);
  seed_all(static_cast<uint64_t>(cfg.seed) + 3);
  auto draw = [&] {
    return labeled ? coupling->target().sample_labeled(ec.n) : std::make_pair(coupling->target().sample(ec.n), at::Tensor());
  };
  const auto [ref, ref_labels] = draw();
  const auto [ref2, ref2_labels] = draw();
  const FieldFn field =
      guided_field(*m.model, Cond{labeled ? ref_labels.to(ctx.device) : at::Tensor()}, guidance);
  io::write_npy((dir / "reference.npy").string(), ref);

  nlohmann::json out;
  // The floor: two independent finite target samples are this far apart under each metric.
  auto floor = eval::compare_samples(ref2, ref, ec.sliced_projections, cfg.seed);
  out["floor"] = nlohmann::json::parse(eval::to_json(floor));
  if (labeled) out["floor"]["label_accuracy"] = eval::nearest_label_accuracy(ref2, ref2_labels, ref, ref_labels);

  std::vector<std::pair<std::string, int64_t>> jobs;
  for (const auto& s : ec.solvers) {
    if (solvers().get(s, "eval.solvers")()->nfe_per_step() == 0) {
      jobs.emplace_back(s, 0);  // adaptive: one solve at the eval tolerance, NFE measured
      continue;
    }
    for (auto k : ec.nfe) jobs.emplace_back(s, k);
  }
  Progress progress("eval", static_cast<int64_t>(jobs.size()));
  int64_t done = 0;
  out["results"] = nlohmann::json::array();
  for (const auto& [solver_name, nfe] : jobs) {
    const int per_step = solvers().get(solver_name)()->nfe_per_step();
    if (per_step > 0 && nfe % per_step != 0) {
      spdlog::info("eval: skipping {} at NFE {} (not a multiple of its {} evaluations per step)", solver_name, nfe, per_step);
      progress.update(++done);
      continue;
    }
    const std::string tag = per_step == 0 ? solver_name : solver_name + "_nfe" + std::to_string(nfe);
    const fs::path res_path = dir / "results" / (tag + ".json");
    // Results on disk are reused only if they were made from this checkpoint (a retrained model
    // invalidates them).
    bool fresh = fs::exists(res_path) &&
                 nlohmann::json::parse(io::read_file(res_path.string())).value("checkpoint_step", int64_t(-1)) == m.step;
    if (!fresh) {
      SolveOptions opt;
      opt.method = solver_name;
      opt.steps = per_step > 0 ? nfe / per_step : 1;
      opt.rtol = ec.rtol;
      opt.atol = ec.atol;
      SolveResult r = solve(field, x0.to(ctx.device), opt);
      const double nfe_mean = r.nfe.to(torch::kFloat64).mean().item<double>();
      at::Tensor xs = r.x.cpu();
      io::write_npy((dir / "samples" / (tag + ".npy")).string(), xs);
      auto met = eval::compare_samples(xs, ref, ec.sliced_projections, cfg.seed);
      nlohmann::json j = nlohmann::json::parse(eval::to_json(met));
      if (labeled) j["label_accuracy"] = eval::nearest_label_accuracy(xs, ref_labels, ref, ref_labels);
      j["solver"] = solver_name;
      j["nfe"] = per_step > 0 ? double(nfe) : nfe_mean;
      j["steps"] = per_step > 0 ? opt.steps : r.accepted;
      j["tag"] = tag;
      j["checkpoint_step"] = m.step;
      io::write_file_atomic(res_path.string(), j.dump(2));
      spdlog::info("eval: {}: {} NFE {:.1f}: W2 {:.4f} (floor {:.4f}), energy {:.5f}", cm.label, solver_name, j["nfe"].get<double>(), met.w2, floor.w2,
                   met.energy);
    }
    out["results"].push_back(nlohmann::json::parse(io::read_file(res_path.string())));
    progress.update(++done);
  }
  progress.finish();

  // Straightness and transport cost from a fine Euler solve; trajectories kept for the report.
  SolveOptions opt;
  opt.method = "euler";
  // A student is a k-step map (trained at its k grid times only): its paths are its own k steps.
  opt.steps = cm.student ? m.cfg.method.distill.steps : ec.straightness_steps;
  opt.record_trajectory = true;
  SolveResult r = solve(field, x0.to(ctx.device), opt);
  auto st = eval::straightness(r.trajectory, r.times);
  out["straightness"] = {{"straightness", st.straightness},
                         {"normalized", st.normalized},
                         {"transport_cost", st.transport_cost},
                         {"steps", opt.steps}};
  // Independent coupling's cost E‖X1 − X0‖², the upper bound the flow's transport cost must not exceed.
  out["independent_transport_cost"] = (ref - x0).flatten(1).pow(2).sum(1).mean().item<double>();
  int64_t keep = std::min<int64_t>(ec.trajectories, ec.n);
  if (keep > 0) {
    // Every ⌈S/50⌉-th time point is plenty for a picture.
    int64_t S = r.trajectory.size(0), stride = std::max<int64_t>(1, (S - 1) / 50);
    auto idx = torch::arange(0, S, stride, torch::kInt64);
    if (idx[-1].item<int64_t>() != S - 1) idx = torch::cat({idx, torch::tensor({S - 1}, torch::kInt64)});
    io::write_npy((dir / "trajectory.npy").string(),
                  r.trajectory.index_select(0, idx.to(r.trajectory.device())).slice(1, 0, keep).cpu().contiguous());
  }
  if (ec.likelihood && labeled) {
    spdlog::info("eval: no likelihood for a class-conditional model (log p(x | label), not the marginal)");
  } else if (ec.likelihood) {
    // Exact-divergence backward solve of the reference points: what the model's density says about
    // real data (and a number comparable across runs, unlike W2 at a fixed sample size).
    try {
      SolveOptions lopt;
      lopt.method = "dopri5";
      lopt.rtol = lopt.atol = 1e-5;
      auto lr = log_prob(bind_field(*m.model), ref.to(ctx.device), lopt, LikelihoodOptions{},
                         [&](const at::Tensor& z) { return coupling->source().log_prob(z); });
      const int64_t dims = ref[0].numel();
      out["likelihood"] = {{"mean_log_p", lr.log_p.mean().item<double>()},
                           {"bits_per_dim", bits_per_dim(lr.log_p, dims).mean().item<double>()},
                           {"nfe_mean", lr.solve.nfe.to(torch::kFloat64).mean().item<double>()}};
      spdlog::info("eval: mean log p of {} target points {:.4f} ({:.0f} NFE each)", ec.n,
                   out["likelihood"]["mean_log_p"].get<double>(), out["likelihood"]["nfe_mean"].get<double>());
    } catch (const Error& e) {
      spdlog::info("eval: no likelihood ({})", e.what());
    }
  }
  out["checkpoint_step"] = m.step;
  out["model"] = cm.label;
  out["guidance"] = guidance;
  io::write_file_atomic((dir / "metrics.json").string(), out.dump(2));
  spdlog::info("eval: {}: straightness {:.4f} (normalised {:.4f}), transport cost {:.3f} (independent coupling {:.3f})",
               cm.label, st.straightness, st.normalized, st.transport_cost, out["independent_transport_cost"].get<double>());
}

}  // namespace

void stage_eval(StageContext& ctx) {
  for (const auto& cm : chain_models(ctx.cfg, ctx.run_dir)) {
    if (resolve_checkpoint(cm.dir).empty()) {
      spdlog::warn("eval: {} has no checkpoint yet ({}), skipped", cm.label, cm.dir);
      continue;
    }
    eval_model(ctx, cm);
  }
}

}  // namespace rflow
