// The eval stage: every model of the run (1-RF, k-RF, students) is solved from the same noise with
// every configured solver and NFE, scored by the scorer of its data's kind, and measured for
// straightness (and likelihood where the scorer allows). Results are typed (eval/eval_result.h)
// and cached per settings, so a rerun with other eval settings recomputes only what changed.
#include <chrono>
#include <filesystem>
#include <optional>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/thread_policy.h"
#include "rflow/core/error.h"
#include "rflow/core/progress.h"
#include "rflow/core/rng.h"
#include "rflow/dist/row_split.h"
#include "rflow/dist/world.h"
#include "rflow/eval/eval_result.h"
#include "rflow/eval/scorer.h"
#include "rflow/eval/straightness.h"
#include "rflow/io/atomic_file.h"
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

// What a cached result depends on besides the common settings (guidance among them): tolerances
// for adaptive solvers, η for one that steps by the variance, and any other solver setting that is
// not the default.
nlohmann::json job_settings(const nlohmann::json& common, const SolveOptions& so, const Solver& solver,
                            const FieldOptions& fo) {
  nlohmann::json s = common;
  const bool adaptive = solver.nfe_per_step() == 0;
  if (adaptive) s.update({{"rtol", so.rtol}, {"atol", so.atol}});
  s.update(so.non_default_settings(adaptive));
  if (solver.needs_variance() && fo.eta != FieldOptions{}.eta) s["eta"] = fo.eta;
  return s;
}

// The 1-RF is evaluated at the run's eval.guidance (which may have changed since it was trained);
// models trained on guided pairs at their own config's 1 (guiding them again would compound it).
FieldOptions field_options(const EvalConfig& ec, const LoadedModel& m, const ChainModel& cm) {
  FieldOptions fo = ec.field;
  if (cm.k != 1 || cm.student) fo.guidance = m.cfg.eval.field.guidance;
  return fo;
}

// Evaluates one model of the run (all with the same draws, so numbers compare across models): every
// solver job scored (cached per settings), straightness, and the likelihood where it is defined.
// In a data-parallel run every rank solves a share of each job's samples and of the likelihood's
// points; rank 0 alone scores, caches and writes.
class ModelEvalRun {
 public:
  // shape: the one its draws are in ({}: the data's own); cm.eval_dir: where the results go.
  ModelEvalRun(StageContext& ctx, const ChainModel& cm, LoadedModel& m, const std::vector<int64_t>& shape)
      : ctx_(ctx), cm_(cm), ec_(ctx.cfg.eval), m_(m), dir_(cm.eval_dir), kind_(m_.data->target().kind()),
        entry_(eval::scorers().get(kind_, "eval (data kind of " + m_.data->target().describe() + ")")),
        field_(field_options(ec_, m_, cm)),
        draws_(eval_draws(m_, entry_, ec_.n, static_cast<uint64_t>(ctx.cfg.seed), shape)),
        chunk_(entry_.chunked ? std::max<int64_t>(1, ec_.batch) : ec_.n),
        chunks_((ec_.n + chunk_ - 1) / chunk_) {
    setup_ = draws_.setup;
    if (!world_.leader()) return;  // the others only solve
    const dist::Rank0TakesIdleCores cores(world_);  // the scorer's reference features
    fs::create_directories(dir_ / "results");
    fs::create_directories(dir_ / "samples");
    setup_.dir = dir_.string();
    setup_.trajectories = std::min(ec_.trajectories, ec_.n);
    setup_.sliced_projections = ec_.sliced_projections;
    setup_.fidnet = ec_.fidnet;
    scorer_ = entry_.make(setup_);
    scorer_->save_reference();
    out_.kind = kind_;
    out_.model = cm.label;
    out_.n = ec_.n;
    out_.checkpoint_step = m_.step;
    out_.guidance = field_.guidance;
    out_.floor = scorer_->floor();
    scorer_->describe(out_);
  }

  void run() {
    solver_jobs();
    if (world_.leader()) {
      const dist::Rank0TakesIdleCores cores(world_);
      straightness();
    }
    world_.barrier("rank 0's straightness of " + cm_.label, dist::kWaitForRank0);
    likelihood();
    if (!world_.leader()) return;
    const auto& st = out_.straightness;
    eval::write_json_file((dir_ / "metrics.json").string(), out_);
    spdlog::info("eval: {}: straightness {:.4f} (normalised {:.4f}), transport cost {:.3f} (independent coupling {:.3f})",
                 cm_.label, st.straightness, st.normalized, st.transport_cost, out_.independent_transport_cost);
  }

 private:
  // (solver, NFE) pairs to score; NFE 0 for an adaptive solver (one solve at the eval tolerance).
  std::vector<std::pair<std::string, int64_t>> jobs() const {
    std::vector<std::pair<std::string, int64_t>> out;
    // A k-step student is a k-step Euler map trained at its own grid times: other step counts and
    // solvers measure nothing it was made for.
    if (cm_.student) return {{"euler", student_steps()}};
    for (const auto& s : ec_.solvers) {
      if (solvers().get(s, "eval.solvers")()->nfe_per_step() == 0) {
        out.emplace_back(s, 0);
        continue;
      }
      for (auto k : ec_.nfe) out.emplace_back(s, k);
    }
    return out;
  }
  int64_t student_steps() const { return m_.cfg.method.get<DistillConfig>("distill").steps; }

  // What every cached result depends on, beside its solver's own settings.
  nlohmann::json common_settings() const {
    return {{"checkpoint_step", m_.step},
            {"weights", checkpoint_fingerprint(m_.checkpoint)},
            {"n", ec_.n},
            {"seed", ctx_.cfg.seed},
            {"guidance", field_.guidance},
            {"use_ema", ctx_.cfg.sample.use_ema},
            {"fidnet", out_.fidnet.id.empty() ? nlohmann::json() : nlohmann::json(out_.fidnet.id)},
            {"sliced_projections", kind_ == "points" ? ec_.sliced_projections : int64_t(0)}};
  }

  void solver_jobs() {
    const auto list = jobs();
    const nlohmann::json common = world_.leader() ? common_settings() : nlohmann::json();
    Progress progress("eval " + cm_.label, static_cast<int64_t>(list.size()) * chunks_);
    int64_t done = 0;
    for (const auto& [solver_name, nfe] : list) {
      // threads = 0 follows the machine's load, job by job.
      if (const std::string change = adapt_threads(); !change.empty()) spdlog::info("eval: {}", change);
      const int per_step = solvers().get(solver_name)()->nfe_per_step();
      const std::string what = per_step > 0 ? solver_name + " NFE " + std::to_string(nfe) : solver_name;
      if (per_step > 0 && nfe % per_step != 0) {
        spdlog::info("eval: skipping {} at NFE {} (not a multiple of its {} evaluations per step)", solver_name, nfe, per_step);
      } else {
        std::optional<eval::SolverResult> r = job(solver_name, nfe, per_step, common, [&](int64_t c, int64_t all) {
          progress.update(done * chunks_ + c * chunks_ / all, what);
        });
        if (r) out_.results.push_back(std::move(*r));
      }
      progress.update(++done * chunks_, what);
    }
    progress.finish();
  }

  // One solver at one NFE: from the cache when it was made from these weights with these settings
  // (a model retrained even to the same step, another n, scale or FID network invalidates it).
  // Chunks do not matter: adaptive steps are chosen per sample. Rank 0 reads the cache and tells
  // the others whether to solve; it alone scores (the others return nothing).
  std::optional<eval::SolverResult> job(const std::string& solver_name, int64_t nfe, int per_step,
                                        const nlohmann::json& common,
                                        const std::function<void(int64_t, int64_t)>& chunk_done) {
    const std::string tag = per_step == 0 ? solver_name : solver_name + "_nfe" + std::to_string(nfe);
    const fs::path res_path = dir_ / "results" / (tag + ".json");
    eval::SolverResult res;
    bool cached = false;
    if (world_.leader()) {
      const nlohmann::json settings = job_settings(common, ec_.solve, *solvers().get(solver_name)(), field_);
      cached = eval::read_cached_result(res_path.string(), settings, res);
      res.settings = settings;
    }
    if (world_.agree(cached, "whether " + cm_.label + "'s " + tag + " is cached"))
      return world_.leader() ? std::optional(res) : std::nullopt;
    SolveOptions opt = ec_.solve;
    opt.method = solver_name;
    opt.steps = per_step > 0 ? nfe / per_step : 1;
    const auto t_start = std::chrono::steady_clock::now();
    const ChunkedSolve r = solve_in_chunks(*m_.model, draws_, opt, field_, chunk_, ctx_.device, chunk_done);
    if (!world_.leader()) return std::nullopt;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    const dist::Rank0TakesIdleCores cores(world_);  // scoring: the others wait for the next job
    scorer_->save(r.x, tag);
    res.scores = scorer_->score(r.x);
    res.solver = solver_name;
    res.tag = tag;
    res.nfe = per_step > 0 ? double(nfe) : r.nfe.to(torch::kFloat64).mean().item<double>();
    res.steps = per_step > 0 ? opt.steps : r.accepted;
    res.checkpoint_step = m_.step;
    res.samples_per_second = double(ec_.n) / std::max(secs, 1e-9);
    eval::write_json_file(res_path.string(), res);
    // Fixed-step NFE is a whole number; an adaptive solve's is a mean over samples.
    const std::string nfe_text = per_step > 0 ? std::to_string(nfe) : fmt::format("{:.1f} (mean)", res.nfe);
    spdlog::info("eval: {}: {} NFE {}: {} ({:.0f} samples/s)", cm_.label, solver_name, nfe_text,
                 scorer_->headline(res.scores), res.samples_per_second);
    return res;
  }

  // Straightness and transport cost from a fine Euler solve; the scorer keeps the paths it shows.
  eval::Straightness straightness() {
    const at::Tensor& x0 = draws_.x0;
    const int64_t n_paths = entry_.max_paths > 0 ? std::min(ec_.n, entry_.max_paths) : ec_.n;
    SolveOptions opt;
    opt.method = "euler";
    // A student is a k-step map (trained at its k grid times only): its paths are its own k steps.
    opt.steps = cm_.student ? student_steps() : ec_.straightness_steps;
    opt.record_trajectory = true;
    const Cond c = setup_.cond.empty() ? Cond{} : setup_.cond.slice(0, n_paths).to(ctx_.device);
    const SolveResult r = solve(*m_.model, x0.slice(0, 0, n_paths).to(ctx_.device), opt, c, field_);
    const auto st = eval::straightness(r.trajectory, r.times);
    out_.straightness = {st.straightness, st.normalized, st.transport_cost, opt.steps, n_paths};
    // Independent coupling's cost E‖X1 − X0‖², the upper bound the flow's transport cost must not exceed.
    out_.independent_transport_cost =
        (setup_.reference.slice(0, 0, n_paths) - x0.slice(0, 0, n_paths)).flatten(1).pow(2).sum(1).mean().item<double>();
    scorer_->save_trajectory(r.trajectory);
    return st;
  }

  void likelihood() {
    if (!ec_.likelihood) return;
    // Every rank takes the same path through here; rank 0 tells why it stops.
    const bool tell = world_.leader();
    if (cm_.student) {
      if (tell) spdlog::info("eval: no likelihood for {} (a k-step map: its density is not given by its velocity's flow)", cm_.label);
      return;
    }
    if (m_.cfg.data.labels) {
      if (tell) spdlog::info("eval: no likelihood for a class-conditional model (log p(x | label), not the marginal)");
      return;
    }
    if (!entry_.likelihood) {
      if (tell) spdlog::info("eval: no likelihood for {} (the exact divergence is too costly there)", kind_);
      return;
    }
    // Exact-divergence backward solve of the reference points: what the model's density says about
    // real data (and a number comparable across runs, unlike W2 at a fixed sample size). Only a
    // source without a closed-form density is a reason to skip it; any other failure is an error.
    Distribution& source = m_.data->source();
    try {
      source.log_prob(setup_.reference.slice(0, 0, 1));  // no draw: later numbers keep their noise
    } catch (const Error& e) {
      if (tell) spdlog::info("eval: no likelihood ({})", e.what());
      return;
    }
    SolveOptions lopt;
    lopt.method = "dopri5";
    lopt.rtol = lopt.atol = 1e-5;
    SolveProgress lbar("likelihood " + cm_.label, lopt);
    const at::Tensor points = setup_.reference.slice(0, 0, std::min(ec_.n, ec_.likelihood_n));
    // Each point's solve is its own (steps chosen per sample): the ranks take a share each.
    const dist::RowSplit split = dist::split_rows(points.size(0), points.size(0), world_);
    std::vector<at::Tensor> log_ps, nfes;
    for (const auto& [a, b] : split.mine) {
      auto lr = log_prob(bind_field(*m_.model), points.slice(0, a, b).to(ctx_.device), lopt, LikelihoodOptions{},
                         [&](const at::Tensor& z) { return source.log_prob(z); });
      log_ps.push_back(lr.log_p.cpu());
      nfes.push_back(lr.solve.nfe.cpu());
    }
    const int64_t n = split.n;
    const at::Tensor log_p = dist::gather_rows(split, log_ps, torch::zeros({n}, torch::kFloat64), world_, "log p");
    const at::Tensor nfe = dist::gather_rows(split, nfes, torch::zeros({n}, torch::kInt64), world_, "the likelihood's NFE");
    if (!world_.leader()) return;
    const int64_t dims = setup_.reference[0].numel();
    out_.likelihood = {true, log_p.mean().item<double>(), bits_per_dim(log_p, dims).mean().item<double>(),
                       nfe.to(torch::kFloat64).mean().item<double>()};
    spdlog::info("eval: mean log p of {} target points {:.4f} ({:.0f} NFE each)", points.size(0),
                 out_.likelihood.mean_log_p, out_.likelihood.nfe_mean);
  }

  StageContext& ctx_;
  const dist::World& world_ = dist::world();
  const ChainModel& cm_;
  const EvalConfig& ec_;
  LoadedModel& m_;
  const fs::path dir_;
  const std::string kind_;
  const eval::ScorerEntry& entry_;
  const FieldOptions field_;
  const EvalDraws draws_;
  const int64_t chunk_, chunks_;
  eval::ScorerSetup setup_;
  std::unique_ptr<eval::Scorer> scorer_;
  eval::ModelEval out_;
};

// A model of data with several shapes (composites of mixed layouts) is evaluated in each, from
// draws of that shape, into eval/<shape name>/; eval/views.json lists them for the report.
void eval_model(StageContext& ctx, const ChainModel& cm) {
  LoadedModel m = load_model(cm.dir, ctx.cfg.sample.use_ema, ctx.device);
  const Distribution& target = m.data->target();
  const auto shapes = target.sample_shapes();
  const bool leader = dist::world().leader();
  if (shapes.size() == 1) {
    if (leader) fs::remove(fs::path(cm.eval_dir) / "views.json");  // from an earlier run on several shapes
    return ModelEvalRun(ctx, cm, m, {}).run();
  }
  nlohmann::json list = nlohmann::json::array();
  for (const auto& shape : shapes) list.push_back({{"name", target.shape_name(shape)}, {"shape", shape}});
  if (leader) {
    fs::create_directories(cm.eval_dir);
    io::write_file_atomic((fs::path(cm.eval_dir) / "views.json").string(), list.dump(2));
  }
  for (const auto& shape : shapes) {
    const ChainModel view = eval_view(cm, target.shape_name(shape), shape);
    ModelEvalRun(ctx, view, m, view.shape).run();
  }
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
