// The eval stage: every model of the run (1-RF, k-RF, students) is solved from the same noise with
// every configured solver and NFE, scored by the scorer of its data's kind, and measured for
// straightness (and likelihood where the scorer allows). Results are typed (eval/eval_result.h)
// and cached per settings, so a rerun with other eval settings recomputes only what changed.
#include <chrono>
#include <filesystem>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/progress.h"
#include "rflow/core/rng.h"
#include "rflow/eval/eval_result.h"
#include "rflow/eval/scorer.h"
#include "rflow/eval/straightness.h"
#include "rflow/methods/distill.h"
#include "rflow/pipeline/chain.h"
#include "rflow/pipeline/eval_draws.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/pipeline/stages.h"
#include "rflow/solve/likelihood.h"
#include "rflow/solve/solve_progress.h"
#include "rflow/solve/solver.h"
#include "rflow/train/checkpoint.h"

namespace fs = std::filesystem;

namespace rflow {

namespace {

// What a cached result depends on besides the common settings: tolerances for adaptive solvers,
// and any other solver setting that is not the default.
nlohmann::json job_settings(const nlohmann::json& common, const SolveOptions& so, bool adaptive) {
  nlohmann::json s = common;
  if (adaptive) s.update({{"rtol", so.rtol}, {"atol", so.atol}});
  s.update(so.non_default_settings(adaptive));
  return s;
}

// Evaluates one model of the run (all with the same draws, so numbers compare across models).
void eval_model(StageContext& ctx, const ChainModel& cm) {
  const RunConfig& cfg = ctx.cfg;
  const EvalConfig& ec = cfg.eval;
  LoadedModel m = load_model(cm.dir, cfg.sample.use_ema, ctx.device);
  auto& coupling = m.data;  // built once by load_model (an npy target is read once)
  Distribution& target = coupling->target();
  const fs::path dir = fs::path(cm.dir) / "eval";
  const bool labeled = m.cfg.data.labels;
  const std::string kind = target.kind();
  const eval::ScorerEntry& entry = eval::scorers().get(kind, "eval (data kind of " + target.describe() + ")");
  // The 1-RF is evaluated at the run's eval.guidance (which may have changed since it was trained);
  // models trained on guided pairs at their own config's 1 (guiding them again would compound it).
  const double guidance = (cm.k == 1 && !cm.student) ? ec.solve.guidance : m.cfg.eval.solve.guidance;
  fs::create_directories(dir / "results");
  fs::create_directories(dir / "samples");

  const EvalDraws draws = eval_draws(m, entry, ec.n, static_cast<uint64_t>(cfg.seed));
  const at::Tensor& x0 = draws.x0;
  eval::ScorerSetup setup = draws.setup;
  setup.dir = dir.string();
  setup.trajectories = std::min(ec.trajectories, ec.n);
  setup.sliced_projections = ec.sliced_projections;
  setup.fidnet = ec.fidnet;
  std::unique_ptr<eval::Scorer> scorer = entry.make(setup);
  scorer->save_reference();

  eval::ModelEval out;
  out.kind = kind;
  out.model = cm.label;
  out.n = ec.n;
  out.checkpoint_step = m.step;
  out.guidance = guidance;
  out.floor = scorer->floor();
  scorer->describe(out);

  // The field for draws [a, b) (their labels), solved in chunks where the scorer asks for it.
  auto cond_for = [&](int64_t a, int64_t b) {
    Cond c;
    if (setup.cond_labels.defined()) c.labels = setup.cond_labels.slice(0, a, b).to(ctx.device);
    return c;
  };
  const int64_t chunk = entry.chunked ? std::max<int64_t>(1, ec.batch) : ec.n;
  const int64_t chunks = (ec.n + chunk - 1) / chunk;
  Progress* bar = nullptr;  // the model's bar, advanced per chunk solved
  int64_t chunks_done = 0;
  auto solve_all = [&](SolveOptions opt, const std::string& what) {
    opt.guidance = guidance;
    ChunkedSolve r = solve_in_chunks(*m.model, draws, opt, chunk, ctx.device, [&] {
      if (bar) bar->update(++chunks_done, what);
    });
    return std::make_tuple(r.x, r.nfe, r.accepted);
  };
  std::vector<std::pair<std::string, int64_t>> jobs;
  // A k-step student is a k-step Euler map trained at its own grid times: other step counts and
  // solvers measure nothing it was made for.
  if (cm.student) jobs.emplace_back("euler", m.cfg.method.get<DistillConfig>("distill").steps);
  for (const auto& s : cm.student ? std::vector<std::string>() : ec.solvers) {
    if (solvers().get(s, "eval.solvers")()->nfe_per_step() == 0) {
      jobs.emplace_back(s, 0);  // adaptive: one solve at the eval tolerance, NFE measured
      continue;
    }
    for (auto k : ec.nfe) jobs.emplace_back(s, k);
  }
  const nlohmann::json common{{"checkpoint_step", m.step},
                              {"weights", checkpoint_fingerprint(m.checkpoint)},
                              {"n", ec.n},
                              {"seed", cfg.seed},
                              {"guidance", guidance},
                              {"use_ema", cfg.sample.use_ema},
                              {"fidnet", out.fidnet.id.empty() ? nlohmann::json() : nlohmann::json(out.fidnet.id)},
                              {"sliced_projections", kind == "points" ? ec.sliced_projections : int64_t(0)}};
  Progress progress("eval " + cm.label, static_cast<int64_t>(jobs.size()) * chunks);
  bar = &progress;
  int64_t done = 0;
  for (const auto& [solver_name, nfe] : jobs) {
    const int per_step = solvers().get(solver_name)()->nfe_per_step();
    const std::string what = per_step > 0 ? solver_name + " NFE " + std::to_string(nfe) : solver_name;
    if (per_step > 0 && nfe % per_step != 0) {
      spdlog::info("eval: skipping {} at NFE {} (not a multiple of its {} evaluations per step)", solver_name, nfe, per_step);
      progress.update(chunks_done = ++done * chunks, what);
      continue;
    }
    const std::string tag = per_step == 0 ? solver_name : solver_name + "_nfe" + std::to_string(nfe);
    const fs::path res_path = dir / "results" / (tag + ".json");
    const nlohmann::json settings = job_settings(common, ec.solve, per_step == 0);
    // Results on disk are reused only if they were made from these weights with these settings (a
    // model retrained even to the same step, another n, scale or FID network invalidates them).
    // Chunks do not matter: adaptive steps are chosen per sample.
    eval::SolverResult res;
    if (!eval::read_cached_result(res_path.string(), settings, res)) {
      SolveOptions opt = ec.solve;
      opt.method = solver_name;
      opt.steps = per_step > 0 ? nfe / per_step : 1;
      auto t_start = std::chrono::steady_clock::now();
      auto [xs, nfe_each, accepted] = solve_all(opt, what);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
      scorer->save(xs, tag);
      res.scores = scorer->score(xs);
      res.solver = solver_name;
      res.tag = tag;
      res.nfe = per_step > 0 ? double(nfe) : nfe_each.to(torch::kFloat64).mean().item<double>();
      res.steps = per_step > 0 ? opt.steps : accepted;
      res.checkpoint_step = m.step;
      res.settings = settings;
      res.samples_per_second = double(ec.n) / std::max(secs, 1e-9);
      eval::write_json_file(res_path.string(), res);
      // Fixed-step NFE is a whole number; an adaptive solve's is a mean over samples.
      const std::string nfe_text = per_step > 0 ? std::to_string(nfe) : fmt::format("{:.1f} (mean)", res.nfe);
      spdlog::info("eval: {}: {} NFE {}: {} ({:.0f} samples/s)", cm.label, solver_name, nfe_text,
                   scorer->headline(res.scores), res.samples_per_second);
    }
    out.results.push_back(std::move(res));
    progress.update(chunks_done = ++done * chunks, what);
  }
  progress.finish();
  bar = nullptr;

  // Straightness and transport cost from a fine Euler solve; the scorer keeps the paths it shows.
  const int64_t n_paths = entry.max_paths > 0 ? std::min(ec.n, entry.max_paths) : ec.n;
  SolveOptions opt;
  opt.method = "euler";
  // A student is a k-step map (trained at its k grid times only): its paths are its own k steps.
  opt.steps = cm.student ? m.cfg.method.get<DistillConfig>("distill").steps : ec.straightness_steps;
  opt.record_trajectory = true;
  opt.guidance = guidance;
  SolveResult r = solve(*m.model, x0.slice(0, 0, n_paths).to(ctx.device), opt, cond_for(0, n_paths));
  auto st = eval::straightness(r.trajectory, r.times);
  out.straightness = {st.straightness, st.normalized, st.transport_cost, opt.steps, n_paths};
  // Independent coupling's cost E‖X1 − X0‖², the upper bound the flow's transport cost must not exceed.
  out.independent_transport_cost =
      (setup.reference.slice(0, 0, n_paths) - x0.slice(0, 0, n_paths)).flatten(1).pow(2).sum(1).mean().item<double>();
  scorer->save_trajectory(r.trajectory);

  if (ec.likelihood && cm.student) {
    spdlog::info("eval: no likelihood for {} (a k-step map: its density is not given by its velocity's flow)", cm.label);
  } else if (ec.likelihood && labeled) {
    spdlog::info("eval: no likelihood for a class-conditional model (log p(x | label), not the marginal)");
  } else if (ec.likelihood && !entry.likelihood) {
    spdlog::info("eval: no likelihood for {} (the exact divergence is too costly there)", kind);
  } else if (ec.likelihood) {
    // Exact-divergence backward solve of the reference points: what the model's density says about
    // real data (and a number comparable across runs, unlike W2 at a fixed sample size). Only a
    // source without a closed-form density is a reason to skip it; any other failure is an error.
    bool analytic = true;
    try {
      coupling->source().log_prob(setup.reference.slice(0, 0, 1));  // no draw: later numbers keep their noise
    } catch (const Error& e) {
      analytic = false;
      spdlog::info("eval: no likelihood ({})", e.what());
    }
    if (analytic) {
      SolveOptions lopt;
      lopt.method = "dopri5";
      lopt.rtol = lopt.atol = 1e-5;
      SolveProgress lbar("likelihood " + cm.label, lopt);
      const at::Tensor points = setup.reference.slice(0, 0, std::min(ec.n, ec.likelihood_n));
      auto lr = log_prob(bind_field(*m.model), points.to(ctx.device), lopt, LikelihoodOptions{},
                         [&](const at::Tensor& z) { return coupling->source().log_prob(z); });
      const int64_t dims = setup.reference[0].numel();
      out.likelihood = {true, lr.log_p.mean().item<double>(), bits_per_dim(lr.log_p, dims).mean().item<double>(),
                        lr.solve.nfe.to(torch::kFloat64).mean().item<double>()};
      spdlog::info("eval: mean log p of {} target points {:.4f} ({:.0f} NFE each)", points.size(0), out.likelihood.mean_log_p,
                   out.likelihood.nfe_mean);
    }
  }
  eval::write_json_file((dir / "metrics.json").string(), out);
  spdlog::info("eval: {}: straightness {:.4f} (normalised {:.4f}), transport cost {:.3f} (independent coupling {:.3f})",
               cm.label, st.straightness, st.normalized, st.transport_cost, out.independent_transport_cost);
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
