#include "rflow/automl/trial.h"

#include <filesystem>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/eval/scorer.h"
#include "rflow/pipeline/eval_draws.h"
#include "rflow/pipeline/run_config.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/pipeline/stages.h"
#include "rflow/solve/solver.h"

namespace fs = std::filesystem;

namespace rflow::automl {

std::string trial_dir(const SearchOptions& s, int64_t number) {
  return (fs::path(s.study_dir()) / "trials" / ("trial_" + std::to_string(number))).string();
}

std::vector<std::string> trial_overrides(const SearchOptions& s, const Point& x, int64_t number) {
  std::vector<std::string> out = settings_of(s.space, x);
  // Every rung a checkpoint (rungs are min_steps·η^k); all kept, so the curve can be re-scored.
  out.insert(out.end(), {"train.steps=" + std::to_string(s.asha.max_steps),
                         "train.ckpt_every=" + std::to_string(s.asha.min_steps), "train.keep_checkpoints=1000"});
  return out;
}

namespace {

double score_checkpoint(const std::string& dir, const ObjectiveOptions& o, uint64_t seed, c10::Device device, int64_t steps) {
  const LoadedModel m = load_model(dir, /*use_ema=*/true, device);
  if (m.step < steps)
    throw TrialInterrupted("training stopped at step " + std::to_string(m.step) + " before the rung at " + std::to_string(steps),
                           dir, "run the search again: it takes the trial over where its checkpoints end");
  Distribution& target = m.data->target();
  const eval::ScorerEntry& entry = eval::scorers().get(target.kind(), "objective (data kind of " + target.describe() + ")");
  // The same noise and reference for every trial and rung: differences are the weights'.
  EvalDraws draws = eval_draws(m, entry, o.n, seed);
  draws.setup.fidnet = m.cfg.eval.fidnet;
  std::unique_ptr<eval::Scorer> scorer = entry.make(draws.setup);
  SolveOptions opt;
  opt.method = o.solver;
  const int per_step = solvers().get(opt.method, "objective.solver")()->nfe_per_step();
  RF_CHECK(per_step > 0 && o.nfe % per_step == 0,
           "objective.nfe = " + std::to_string(o.nfe) + " is not a whole number of " + opt.method + " steps",
           "objective.nfe", "use a fixed-step solver and a multiple of its evaluations per step");
  opt.steps = o.nfe / per_step;
  const int64_t chunk = entry.chunked ? std::max<int64_t>(1, m.cfg.eval.batch) : o.n;
  const at::Tensor x = solve_in_chunks(*m.model, draws, opt, m.cfg.eval.field, chunk, device).x;
  if (!torch::isfinite(x).all().item<bool>()) return NAN;  // a diverged trial: worse than any
  const eval::Scores scores = scorer->score(x);
  const auto it = scores.find(o.metric);
  if (it == scores.end()) {
    std::string have;
    for (const auto& [k, v] : scores) have += (have.empty() ? "" : ", ") + k;
    throw Error("the scorer of " + target.kind() + " reports no '" + o.metric + "'", "objective.metric",
                "choose one of: " + have);
  }
  return it->second;
}

}  // namespace

double score_run(const std::string& dir, const ObjectiveOptions& o, uint64_t seed, int64_t steps) {
  const RunConfig cfg = load_run_config(dir, {});
  return score_checkpoint(dir, o, seed, setup_device(cfg), steps);
}

double train_and_score(const SearchOptions& s, const Point& x, int64_t number, int64_t steps) {
  const RunConfig cfg = load_run_config(s.config, trial_overrides(s, x, number));
  const std::string dir = trial_dir(s, number);
  const c10::Device device = setup_device(cfg);
  train_run(cfg, dir, device, steps);
  return score_checkpoint(dir, s.objective, static_cast<uint64_t>(s.seed), device, steps);
}

}  // namespace rflow::automl
