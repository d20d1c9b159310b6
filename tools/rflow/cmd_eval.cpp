// `rflow eval`: compare a sample set with a reference (exact W2, sliced W2, energy, MMD), given as
// two .npy files, or sample a checkpoint and compare with fresh draws of its target. A checkpoint of
// images is scored as the run's eval stage scores it (FID-proxy, class accuracy, judge), so that any
// kept checkpoint can be put on a quality-vs-training-step curve.
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/rng.h"
#include "rflow/eval/compare.h"
#include "rflow/eval/scorer.h"
#include "rflow/io/npy.h"
#include "rflow/pipeline/eval_draws.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/solve/likelihood.h"
#include "rflow/solve/solve_progress.h"
#include "rflow/solve/solver.h"
#include "tools/rflow/commands.h"
#include "tools/rflow/config_flags.h"

namespace rflow::cli {

namespace {

struct Args {
  std::string samples, reference, checkpoint;
  SolveOptions solve;  // for --checkpoint: every solver setting as a flag (--solver, --steps, --rtol, ...)
  FieldOptions field;  // --guidance, --eta
  int64_t n = 2000, seed = 0, projections = 256, probes = 1;
  bool likelihood = false;
  std::string divergence = "exact";
};

// What a checkpoint's figure depends on: the solve's steps and NFE (fixed-step) or tolerances, and
// η for a solver that steps by the variance.
nlohmann::json solve_settings(const SolveOptions& so, const FieldOptions& fo) {
  const std::unique_ptr<Solver> solver = solvers().get(so.method, "--solver")();
  const int per_step = solver->nfe_per_step();
  if (per_step > 0) return {{"steps", so.steps}, {"nfe", so.steps * per_step}};
  if (solver->needs_variance()) return {{"steps", so.steps}, {"eta", fo.eta}};
  return {{"rtol", so.rtol}, {"atol", so.atol}};
}

// A checkpoint whose target is not points (images): its samples scored by the data kind's scorer
// from the eval stage's draws (eval_draws.h), so that `--seed` = the run's seed and `--num` = its
// eval.n reproduce the eval stage's number for that solver.
void score_checkpoint(const LoadedModel& m, const Args& a) {
  Distribution& target = m.data->target();
  const std::string kind = target.kind();
  const eval::ScorerEntry& entry = eval::scorers().get(kind, "rflow eval (data kind of " + target.describe() + ")");
  RF_CHECK(a.n >= 2 && a.n <= 10000, "--num must be in [2, 10000] for " + kind, "rflow eval",
           "the test set holds 10 000 images; the run's eval uses eval.n (2000 in the shipped configs)");
  EvalDraws draws = eval_draws(m, entry, a.n, static_cast<uint64_t>(a.seed));
  draws.setup.fidnet = m.cfg.eval.fidnet;
  std::unique_ptr<eval::Scorer> scorer = entry.make(draws.setup);

  const int64_t chunk = entry.chunked ? std::max<int64_t>(1, m.cfg.eval.batch) : a.n;
  SolveOptions opt = a.solve;  // the bar hooks itself into the options
  at::Tensor x;
  {
    SolveProgress bar("sample", opt);
    x = solve_in_chunks(*m.model, draws, opt, a.field, chunk, c10::Device(c10::kCPU)).x;
  }
  const int64_t bad = torch::logical_not(torch::isfinite(x)).flatten(1).any(1).sum().item<int64_t>();
  RF_CHECK(bad == 0, std::to_string(bad) + " of " + std::to_string(a.n) + " samples have NaN/Inf values", m.checkpoint,
           "the weights may be damaged or the solver unstable: try another solver");
  nlohmann::json j = nlohmann::json(scorer->score(x));
  j["floor"] = nlohmann::json(scorer->floor());
  j["n"] = a.n;
  nlohmann::json set{{"checkpoint", m.checkpoint}, {"step", m.step},     {"solver", a.solve.method},
                     {"seed", a.seed},             {"guidance", a.field.guidance}, {"reference", "the eval stage's draws"}};
  set.update(solve_settings(a.solve, a.field));
  j["settings"] = set;
  std::cout << j.dump() << std::endl;
}

// log p of the --samples points under --checkpoint, by the backward solve.
void eval_likelihood(const Args& a) {
  RF_CHECK(!a.samples.empty() && !a.checkpoint.empty(), "--likelihood needs --samples and --checkpoint",
           "rflow eval", "e.g. rflow eval --likelihood --samples points.npy --checkpoint runs/demo_2d");
  LoadedModel m = load_model(a.checkpoint, true, c10::Device(c10::kCPU));
  at::Tensor pts = io::read_npy_samples(a.samples, m.model->sample_shape());
  auto& coupling = m.data;
  SolveOptions opt = a.solve;
  LikelihoodOptions lo;
  lo.divergence = a.divergence;
  lo.probes = a.probes;
  seed_all(static_cast<uint64_t>(a.seed));
  std::optional<SolveProgress> bar(std::in_place, "log p", opt);
  auto r = log_prob(bind_field(*m.model), pts, opt, lo, [&](const at::Tensor& z) { return coupling->source().log_prob(z); });
  bar.reset();  // its last line before the result
  const int64_t dims = pts[0].numel();
  nlohmann::json j{{"n", pts.size(0)},
                   {"mean_log_p", r.log_p.mean().item<double>()},
                   {"bits_per_dim", bits_per_dim(r.log_p, dims).mean().item<double>()},
                   {"nfe_mean", r.solve.nfe.to(torch::kFloat64).mean().item<double>()},
                   {"status", to_string(r.solve.status)},
                   {"solver", opt.method},
                   {"divergence", a.divergence}};
  const int64_t bad = torch::logical_not(torch::isfinite(r.log_p)).sum().item<int64_t>();
  if (bad > 0) j["status"] = "non_finite", j["non_finite_points"] = bad, j["mean_log_p"] = nullptr, j["bits_per_dim"] = nullptr;
  std::cout << j.dump() << std::endl;
  RF_CHECK(bad == 0, std::to_string(bad) + " of " + std::to_string(pts.size(0)) + " log-densities are NaN/Inf",
           a.samples, "the weights may be damaged or the solve unstable: try a tighter --rtol or another solver");
}

// Distances between samples (a file, or the checkpoint's own) and a reference; a checkpoint of
// images is scored as the eval stage does.
void compare_points(const Args& a) {
  RF_CHECK(!a.samples.empty() || !a.checkpoint.empty(), "nothing to evaluate", "rflow eval",
           "pass --samples FILE.npy or --checkpoint RUN_DIR");
  RF_CHECK(a.samples.empty() || a.checkpoint.empty(), "--samples and --checkpoint are two ways to get the samples",
           "rflow eval", "pass one: --samples FILE.npy (compare a file) or --checkpoint RUN_DIR (sample the model); "
                         "--likelihood uses both (log p of the file's points under the model)");
  std::unique_ptr<LoadedModel> m;
  if (!a.checkpoint.empty()) {
    m = std::make_unique<LoadedModel>(load_model(a.checkpoint, true, c10::Device(c10::kCPU)));
    if (a.reference.empty() && m->data->target().kind() != "points") return score_checkpoint(*m, a);
  }
  RF_CHECK(a.n >= 2 && a.n <= 5000, "--num must be in [2, 5000]", "rflow eval", "");
  at::Tensor xs, ref;
  if (m) {
    seed_all(static_cast<uint64_t>(a.seed));
    SolveOptions opt = a.solve;
    {
      SolveProgress bar("sample", opt);
      xs = solve(*m->model, m->data->source().sample(a.n).x, opt, {}, a.field).x;
    }
    const int64_t bad = torch::logical_not(torch::isfinite(xs)).flatten(1).any(1).sum().item<int64_t>();
    RF_CHECK(bad == 0, std::to_string(bad) + " of " + std::to_string(a.n) + " samples have NaN/Inf values",
             a.checkpoint, "the weights may be damaged or the solver unstable: try another solver");
  } else {
    xs = io::read_npy_samples(a.samples);
  }
  if (!a.reference.empty()) {
    ref = io::read_npy_samples(a.reference, m ? m->model->sample_shape() : std::vector<int64_t>(xs.sizes().begin() + 1, xs.sizes().end()));
  } else {
    RF_CHECK(m, "no reference", "rflow eval", "pass --reference FILE.npy (or --checkpoint to use its target)");
    seed_all(static_cast<uint64_t>(a.seed) + 1);
    ref = m->data->target().sample(a.n).x;
  }
  int64_t n = std::min({xs.size(0), ref.size(0), a.n});
  RF_CHECK(n >= 2, "need at least 2 points in each set", "rflow eval", "");
  // Subsample both to the same size: the exact W2 is defined between equal-size sets.
  seed_all(static_cast<uint64_t>(a.seed) + 2);
  xs = xs.index_select(0, torch::randperm(xs.size(0)).slice(0, 0, n));
  ref = ref.index_select(0, torch::randperm(ref.size(0)).slice(0, 0, n));
  auto met = eval::compare_samples(xs, ref, a.projections, static_cast<uint64_t>(a.seed));
  auto j = nlohmann::json::parse(eval::to_json(met));
  if (m) {
    // What was measured and against what: the solve's settings, and the floor (two independent
    // draws of the target at the same n) below which no model can score.
    nlohmann::json set{{"checkpoint", m->checkpoint}, {"step", m->step}, {"solver", a.solve.method},
                       {"seed", a.seed},             {"projections", a.projections},
                       {"reference", a.reference.empty() ? "fresh target draws" : a.reference}};
    set.update(solve_settings(a.solve, a.field));
    set.update(a.solve.non_default_settings(set.contains("rtol")));  // rtol: an adaptive solver
    j["settings"] = set;
    if (a.reference.empty()) {
      seed_all(static_cast<uint64_t>(a.seed) + 3);
      const at::Tensor ref2 = m->data->target().sample(n).x;
      j["floor"] = nlohmann::json::parse(eval::to_json(eval::compare_samples(ref, ref2, a.projections, static_cast<uint64_t>(a.seed))));
    }
  }
  std::cout << j.dump() << std::endl;
}

}  // namespace

void add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "distances between samples and a reference, or of a checkpoint's samples");
  cmd->footer("\nExamples:\n  rflow eval --checkpoint runs/demo_2d --solver euler --steps 1\n"
              "  rflow eval --checkpoint runs/fmnist_cond/checkpoints/step_00004000 --steps 2 --guidance 1.5\n"
              "  rflow eval --samples s.npy --reference points.npy\n"
              "  rflow eval --likelihood --samples points.npy --checkpoint runs/demo_2d --solver dopri5");
  auto a = std::make_shared<Args>();
  cmd->add_option("--samples", a->samples, "generated points (.npy, N × D)");
  cmd->add_option("--reference", a->reference, "reference points (.npy, N × D; defaults to fresh target draws)");
  cmd->add_option("--checkpoint", a->checkpoint, "sample this checkpoint instead of reading --samples");
  cmd->add_option("-n,--num", a->n, "points compared (≤ 5000; larger sets are subsampled)")->capture_default_str();
  add_seed_flag(*cmd, a->seed, "the draws");
  cmd->add_option("--projections", a->projections, "directions for sliced W2")->capture_default_str();
  cmd->add_flag("--likelihood", a->likelihood,
                "log p (and bits/dim) of the --samples points under --checkpoint, by the backward solve");
  cmd->add_option("--divergence", a->divergence, "exact | hutchinson")->capture_default_str();
  cmd->add_option("--probes", a->probes, "Hutchinson probes per sample")->capture_default_str();
  add_flags_for(*cmd, a->solve, "Solver (with --checkpoint)");
  add_flags_for(*cmd, a->field, "Solver (with --checkpoint)");
  cmd->callback([a] {
    a->solve = solve_from_flags(a->solve);
    a->solve.validate("rflow eval");
    a->field.validate("rflow eval");
    if (a->likelihood) return eval_likelihood(*a);
    compare_points(*a);
  });
}

}  // namespace rflow::cli
